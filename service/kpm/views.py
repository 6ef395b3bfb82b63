"""How a family leaves the service: one presenter for REST, GraphQL and exports, so masking of
personal numbers cannot differ between them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import orjson

from schemas.kpm import FamilyOut
from service.access import Caller
from service.kpm.identity import mask
from service.kpm.tables import Enrollment, Family, Member

PII_SCOPE = "pii:read"


@dataclass
class FamilyRecord:
    family: Family
    members: list[Member]
    enrollments: list[Enrollment]


@dataclass
class FamilyRecordRow:
    """A family read as plain rows (``families.read_family_at_once``), for ``family_fields``."""

    family: FamilyRow
    members: list[MemberRow]
    enrollments: list[EnrollmentRow]


class Attributes:
    """A database row (a mapping) read by attribute, as the presenters read ORM objects."""

    __slots__ = ("_row",)

    def __init__(self, row: Mapping[str, Any] | asyncpg.Record) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        try:
            return self._row[name]
        except KeyError:
            raise AttributeError(name) from None


class FamilyRow(Protocol):
    """A family's own columns, as a ``Family`` or the bulk import (which builds no ORM objects)
    holds them."""

    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    no_kk: str
    village_code: str
    address: str | None
    desil: int | None
    dtsen_id: str | None
    facilitator_id: uuid.UUID | None
    verification_status: str | None
    archived_at: dt.datetime | None
    archive_reason: str | None


class EnrollmentRow(Protocol):
    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    family_id: uuid.UUID
    program_code: str
    status: str
    started_on: dt.date | None
    ended_on: dt.date | None
    graduation_kind: str | None
    credited_facilitator_id: uuid.UUID | None


class MemberRow(Protocol):
    id: uuid.UUID
    nik: str
    name: str
    sex: str
    birth_date: dt.date
    relationship: str
    nik_mismatch: bool


def present_family(record: FamilyRecord | FamilyRecordRow, caller: Caller) -> FamilyOut:
    return family_out(
        record.family, record.members, record.enrollments, unmasked=caller.has(PII_SCOPE)
    )


def presented_fields(record: FamilyRecord | FamilyRecordRow, caller: Caller) -> dict[str, Any]:
    """``present_family``'s fields, masked for ``caller`` as there, without validating again
    what the database just handed over (that validation was a tenth of a read by id): for the
    REST read's JSON and the GraphQL family (a test holds them equal to ``FamilyOut``)."""
    return family_fields(
        record.family, record.members, record.enrollments, unmasked=caller.has(PII_SCOPE)
    )


def family_json(record: FamilyRecord | FamilyRecordRow, caller: Caller) -> bytes:
    """``present_family`` written straight to JSON: ``FamilyOut``'s fields, order and formats
    (a test holds the two equal)."""
    fields = presented_fields(record, caller)
    return orjson.dumps(fields, option=orjson.OPT_UTC_Z, default=_uuid_text)


def _uuid_text(value: object) -> str:
    # asyncpg hands ids over as its own subclass of UUID, which orjson leaves to this.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} in a family")


def family_out(
    family: FamilyRow,
    members: Iterable[MemberRow],
    enrollments: Iterable[EnrollmentRow],
    *,
    unmasked: bool,
) -> FamilyOut:
    """The one shape of a family."""
    return FamilyOut.model_validate(family_fields(family, members, enrollments, unmasked=unmasked))


def family_fields(
    family: FamilyRow,
    members: Iterable[MemberRow],
    enrollments: Iterable[EnrollmentRow],
    *,
    unmasked: bool,
) -> dict[str, Any]:
    """A family's fields as ``FamilyOut`` has them, masked or not, before validation: the bulk
    import serializes its new families from this straight to JSON (their values are checked
    already, and validating tens of thousands of families again cost more than their COPY)."""
    return {
        "id": family.id,
        "created_at": family.created_at,
        "updated_at": family.updated_at,
        "version": family.version,
        "no_kk": family.no_kk if unmasked else mask(family.no_kk) or "",
        "village_code": family.village_code,
        "address": family.address,
        "desil": family.desil,
        "dtsen_id": family.dtsen_id,
        "facilitator_id": family.facilitator_id,
        "verification_status": family.verification_status,
        "archived_at": family.archived_at,
        "archive_reason": family.archive_reason,
        "members": [
            {
                "id": member.id,
                "nik": member.nik if unmasked else mask(member.nik) or "",
                "name": member.name,
                "sex": member.sex,
                "birth_date": member.birth_date,
                "relationship": member.relationship,
                "nik_mismatch": member.nik_mismatch,
            }
            for member in members
        ],
        "enrollments": [
            {
                "id": e.id,
                "created_at": e.created_at,
                "updated_at": e.updated_at,
                "version": e.version,
                "family_id": e.family_id,
                "program_code": e.program_code,
                "status": e.status,
                "started_on": e.started_on,
                "ended_on": e.ended_on,
                "graduation_kind": e.graduation_kind,
                "credited_facilitator_id": e.credited_facilitator_id,
            }
            for e in enrollments
        ],
    }


def masked_family(payload: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """A family as ``present_family`` dumped it (JSON), masked the same way for ``caller``: the
    change feed and webhooks hand out stored records through this."""
    if caller.has(PII_SCOPE):
        return payload
    return {
        **payload,
        "no_kk": mask(payload.get("no_kk")) or "",
        "members": [
            {**member, "nik": mask(member.get("nik")) or ""}
            for member in payload.get("members", [])
        ],
    }
