"""The rules a family must meet, shared by the API and the bulk import so that both refuse the
same things with the same codes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field

from service.kpm.identity import nik_disagrees, nik_problem, no_kk_problem
from service.regions.codes import parse_region_code

RELATIONSHIPS = frozenset(
    {
        "KEPALA_KELUARGA",
        "SUAMI",
        "ISTRI",
        "ANAK",
        "MENANTU",
        "CUCU",
        "ORANG_TUA",
        "MERTUA",
        "FAMILI_LAIN",
        "PEMBANTU",
        "LAINNYA",
    }
)
HEAD = "KEPALA_KELUARGA"


@dataclass
class MemberDraft:
    nik: str
    name: str
    sex: str
    birth_date: dt.date | None  # None: the input was not a date
    relationship: str
    line: int | None = None
    nik_mismatch: bool = False


@dataclass
class FamilyDraft:
    no_kk: str
    village_code: str
    address: str | None
    desil: int | None
    members: list[MemberDraft]
    programs: list[str] = field(default_factory=list)
    dtsen_id: str | None = None
    facilitator_id: uuid.UUID | None = None
    # Set by the import when a value could not even be parsed (e.g. desil "tiga").
    unparsed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    field: str
    code: str
    message: str
    member_index: int | None = None  # which member, for member fields


def check_family(
    draft: FamilyDraft,
    *,
    village_exists: set[str] | frozenset[str],
    program_exists: set[str] | frozenset[str],
    today: dt.date,
) -> list[Refusal]:
    """Every rule the family breaks (empty when it may go in). Normalizes the village code to its
    dotted form and sets each member's ``nik_mismatch`` flag as a side effect."""
    refusals: list[Refusal] = []
    for name, message in draft.unparsed.items():
        refusals.append(Refusal(name, "invalid_value", message))

    problem = no_kk_problem(draft.no_kk)
    if problem:
        refusals.append(Refusal("no_kk", "invalid_no_kk", problem))

    village = parse_region_code(draft.village_code)
    if village is None or village.count(".") != 3:
        refusals.append(
            Refusal("village_code", "invalid_region_code", "A village code has 10 digits.")
        )
    elif village not in village_exists:
        refusals.append(Refusal("village_code", "unknown_region", "No village with that code."))
    else:
        draft.village_code = village

    for name, value, longest in (
        ("address", draft.address, 300),
        ("dtsen_id", draft.dtsen_id, 40),
    ):
        refusals += _text_refusals(name, value, longest)

    if draft.desil is not None and not 1 <= draft.desil <= 10:
        refusals.append(Refusal("desil", "invalid_value", "desil is 1 to 10."))

    unknown = sorted(set(draft.programs) - program_exists)
    if unknown:
        refusals.append(
            Refusal("programs", "unknown_program", f"Unknown programs: {', '.join(unknown)}.")
        )

    refusals += check_members(draft.members, today=today)
    return refusals


def check_members(members: list[MemberDraft], *, today: dt.date) -> list[Refusal]:
    refusals: list[Refusal] = []
    for index, member in enumerate(members):
        refusals += _check_member(member, index, today)
    heads = sum(1 for member in members if member.relationship == HEAD)
    if heads == 0:
        refusals.append(
            Refusal("relationship", "missing_head", "A family needs one KEPALA_KELUARGA.")
        )
    elif heads > 1:
        refusals.append(
            Refusal("relationship", "multiple_heads", "A family has exactly one KEPALA_KELUARGA.")
        )
    counts = Counter(member.nik for member in members)
    for index, member in enumerate(members):
        if counts[member.nik] > 1:
            refusals.append(
                Refusal("nik", "duplicate_nik", "The NIK appears twice in the family.", index)
            )
    return refusals


def _check_member(member: MemberDraft, index: int, today: dt.date) -> list[Refusal]:
    refusals: list[Refusal] = []
    problem = nik_problem(member.nik)
    if problem:
        refusals.append(Refusal("nik", "invalid_nik", problem, index))
    if not member.name.strip():
        refusals.append(Refusal("name", "invalid_value", "The name is empty.", index))
    refusals += _text_refusals("name", member.name, 120, index)
    if member.sex not in ("L", "P"):
        refusals.append(Refusal("sex", "invalid_value", "sex is L or P.", index))
    if member.birth_date is None:
        refusals.append(Refusal("birth_date", "invalid_value", "Not a real date.", index))
    elif member.birth_date > today:
        refusals.append(
            Refusal("birth_date", "invalid_value", "The birth date is in the future.", index)
        )
    if member.relationship not in RELATIONSHIPS:
        refusals.append(
            Refusal("relationship", "invalid_value", "Not an SHDK relationship code.", index)
        )
    if not refusals and member.birth_date is not None:
        member.nik_mismatch = nik_disagrees(
            member.nik, sex=member.sex, birth_date=member.birth_date
        )
    return refusals


def _text_refusals(
    name: str, value: str | None, longest: int, member_index: int | None = None
) -> list[Refusal]:
    """Text the database could not store refuses its family, rather than the whole import
    batch it is in: too long for its column, or holding a NUL character."""
    if value is None:
        return []
    if len(value) > longest:
        return [Refusal(name, "too_long", f"At most {longest} characters.", member_index)]
    if "\x00" in value:
        return [Refusal(name, "invalid_value", "Holds a NUL character.", member_index)]
    return []
