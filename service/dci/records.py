"""How a family and a member leave through the DCI door: the spec's ``Group`` and ``Member``
(with its ``SRPerson`` demographic info), NIK and No KK masked exactly as REST masks them
(``service.kpm.identity.mask``) unless the caller has ``pii:read``.

The mapping (also in the README):

- Group: ``@id`` the family's id; ``group_identifier`` the No KK (``identifier_type`` "KK") and
  the DTSEN id when known ("DTSEN"); ``group_type`` "family"; ``place.address``; ``poverty_score``
  the desil (1 poorest to 10) with ``poverty_score_type`` "desil"; ``group_size``;
  ``group_head_info`` the head of family; ``member_list``; ``registration_date`` and
  ``last_updated``; and, as this registry's extensions, ``village_code``,
  ``verification_status`` and ``enrolments`` (program, status, start and end).
- Member: ``@id`` the member's id; ``member_identifier`` the NIK ("NIK"); ``demographic_info``
  with ``identifier``, ``name.given_name`` (the whole name as registered), ``sex`` ("male" for
  L, "female" for P), ``birth_date``; ``relationship_head`` the SHDK relationship code
  (KEPALA_KELUARGA, ISTRI, ANAK...); and, for a member found on its own, its family:
  ``group_id``, ``group_identifier``, ``village_code``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from service.access import Caller
from service.kpm.identity import mask
from service.kpm.views import PII_SCOPE, EnrollmentRow, FamilyRecord, FamilyRecordRow, FamilyRow

NIK = "NIK"
KK = "KK"
DTSEN = "DTSEN"
SEXES = {"L": "male", "P": "female"}
HEAD = "KEPALA_KELUARGA"


def _when(value: dt.date | dt.datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _number(value: str, unmasked: bool) -> str:
    return value if unmasked else mask(value) or ""


def identifier(kind: str, value: str) -> dict[str, str]:
    return {"@type": "Identifier", "identifier_type": kind, "identifier_value": value}


def group_identifiers(family: FamilyRow, *, unmasked: bool) -> list[dict[str, str]]:
    identifiers = [identifier(KK, _number(family.no_kk, unmasked))]
    if family.dtsen_id:
        identifiers.append(identifier(DTSEN, family.dtsen_id))
    return identifiers


def _member(member: Any, *, unmasked: bool) -> dict[str, Any]:
    nik = [identifier(NIK, _number(member.nik, unmasked))]
    return {
        "@type": "Member",
        "@id": str(member.id),
        "member_identifier": nik,
        "demographic_info": {
            "@type": "SRPerson",
            "identifier": nik,
            "name": {"@type": "Name", "given_name": member.name},
            "sex": SEXES.get(member.sex, member.sex),
            "birth_date": _when(member.birth_date),
        },
        "relationship_head": member.relationship,
    }


def _enrolment(enrollment: EnrollmentRow) -> dict[str, Any]:
    return {
        "programme_identifier": enrollment.program_code,
        "enrolment_status": enrollment.status,
        "enrolment_date": _when(enrollment.started_on),
        "end_date": _when(enrollment.ended_on),
    }


def group_fields(
    family: FamilyRow, members: Iterable[Any], enrollments: Iterable[EnrollmentRow], *,
    unmasked: bool,
) -> dict[str, Any]:  # fmt: skip
    member_list = [_member(member, unmasked=unmasked) for member in members]
    head = next(
        (entry for entry in member_list if entry["relationship_head"] == HEAD),
        member_list[0] if member_list else None,
    )
    group: dict[str, Any] = {
        "@type": "Group",
        "@id": str(family.id),
        "group_identifier": group_identifiers(family, unmasked=unmasked),
        "group_type": "family",
        "place": {"@type": "Place", "address": family.address or ""},
        "poverty_score": family.desil,
        "poverty_score_type": "desil",
        "group_size": len(member_list),
        "group_head_info": head,
        "member_list": member_list,
        "registration_date": _when(family.created_at),
        "last_updated": _when(family.updated_at),
        "village_code": family.village_code,
        "verification_status": family.verification_status,
        "enrolments": [_enrolment(enrollment) for enrollment in enrollments],
    }
    return group


def group_record(record: FamilyRecord | FamilyRecordRow, caller: Caller) -> dict[str, Any]:
    """A family as a DCI ``Group``."""
    return group_fields(
        record.family, record.members, record.enrollments, unmasked=caller.has(PII_SCOPE)
    )


def member_record(member: Any, family: FamilyRow, caller: Caller) -> dict[str, Any]:
    """A member found on its own as a DCI ``Member``, with its family's identifiers."""
    unmasked = caller.has(PII_SCOPE)
    return {
        **_member(member, unmasked=unmasked),
        "group_id": str(family.id),
        "group_identifier": group_identifiers(family, unmasked=unmasked),
        "village_code": family.village_code,
    }
