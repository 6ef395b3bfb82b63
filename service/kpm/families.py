"""Families (KPM) and their members: create, read, list, change, archive."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CTE,
    ScalarSelect,
    Select,
    String,
    Uuid,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.kpm import FamilyCreate, FamilyUpdate, MemberIn, MemberUpdate
from service.access import (
    Caller,
    ensure_writable,
    fetch_visible,
    visible_to,
)
from service.database import DriverStatement, OneStatement
from service.errors import Conflict, FieldError, NotFound, ValidationFailed
from service.journal import (
    MASK,
    apply_update,
    read_audit,
    record_change,
    record_reads,
    record_write,
)
from service.kpm import conditions
from service.kpm.disclosures import Disclosure, IdentityConflict
from service.kpm.facilitators import visible_facilitators
from service.kpm.reference import program_codes, village_codes
from service.kpm.tables import Enrollment, Facilitator, Family, Member
from service.kpm.validation import FamilyDraft, MemberDraft, Refusal, check_family, check_members
from service.kpm.views import PII_SCOPE, Attributes, FamilyRecord, FamilyRecordRow
from service.lists import page_by_last_change
from service.pagination import DEFAULT_LIMIT, Page, check_limit
from service.records import utcnow
from service.regions.codes import normalize_region_code, parse_region_code
from service.versions import ensure_version

ENTITY = "kpm"
WIB = ZoneInfo("Asia/Jakarta")


def today() -> dt.date:
    """Dates of birth and visits are Indonesian dates (WIB), not UTC ones."""
    return dt.datetime.now(WIB).date()


def _raise_refusals(refusals: Sequence[Refusal], member_prefix: str = "members") -> None:
    if refusals:
        raise ValidationFailed(
            errors=[
                FieldError(
                    refusal.field
                    if refusal.member_index is None
                    else f"{member_prefix}.{refusal.member_index}.{refusal.field}",
                    refusal.code,
                    refusal.message,
                )
                for refusal in refusals
            ]
        )


def _member_draft(member: MemberIn) -> MemberDraft:
    return MemberDraft(
        nik=member.nik,
        name=member.name,
        sex=member.sex.value,
        birth_date=member.birth_date,
        relationship=member.relationship.value,
    )


# --- reading ---------------------------------------------------------------------------------


async def load_records(session: AsyncSession, families: Sequence[Family]) -> list[FamilyRecord]:
    """Members and enrollments of a page of families: two queries, whatever the page size."""
    ids = [family.id for family in families]
    members: dict[uuid.UUID, list[Member]] = defaultdict(list)
    enrollments: dict[uuid.UUID, list[Enrollment]] = defaultdict(list)
    if ids:
        for member in await session.scalars(
            select(Member)
            .where(col(Member.family_id).in_(ids))
            .order_by(col(Member.family_id), col(Member.position))
        ):
            members[member.family_id].append(member)
        for enrollment in await session.scalars(
            select(Enrollment)
            .where(col(Enrollment.family_id).in_(ids))
            .order_by(col(Enrollment.program_code))
        ):
            enrollments[enrollment.family_id].append(enrollment)
    return [FamilyRecord(f, members[f.id], enrollments[f.id]) for f in families]


def visible_families(caller: Caller) -> Select[Family]:
    """The families, archived ones included, whose village lies in the caller's region.
    The read by id and the list both start from it."""
    return select(Family).where(
        visible_to(caller, col(Family.village_code), national_rows_visible=False)
    )


async def get_family(
    session: AsyncSession, caller: Caller, family_id: uuid.UUID, *, for_update: bool = False
) -> Family:
    return await fetch_visible(
        session, caller, visible_families(caller).where(col(Family.id) == family_id),
        entity="family", scopes=("kpm:read", "kpm:write"), for_update=for_update,
    )  # fmt: skip


async def read_family(session: AsyncSession, caller: Caller, family_id: uuid.UUID) -> FamilyRecord:
    family = await get_family(session, caller, family_id)
    (record,) = await load_records(session, [family])
    if caller.has(PII_SCOPE):
        await record_reads(session, caller, ENTITY, [(family.id, family.village_code)])
    return record


async def read_family_at_once(
    statements: OneStatement, caller: Caller, family_id: uuid.UUID
) -> FamilyRecordRow:
    """``read_family`` in one statement and one round trip, without a transaction: the family
    with its members and enrollments, and for ``pii:read`` its audit entry, written by the same
    statement (so it is committed before the answer exists)."""
    caller.require("kpm:read")
    statement = _family_read(caller)
    async with statements() as connection:
        row = await connection.fetchrow(
            statement.sql,
            *statement.parameters(family_id=family_id, request_id=caller.request_id),
        )
    if row is None:
        raise NotFound.of("family")
    return FamilyRecordRow(
        Attributes(row),
        [Attributes(member) for member in row["members"] or ()],
        [Attributes(enrollment) for enrollment in row["enrollments"] or ()],
    )


# ``read_family_at_once``'s statement per caller (what it may see, and whether it is audited):
# the clients of a process are few, and building the statement cost more than running it.
_FAMILY_READS: dict[tuple[object, ...], DriverStatement] = {}
_FAMILY_READS_CAPACITY = 1000


def _family_read(caller: Caller) -> DriverStatement:
    audited = caller.has(PII_SCOPE)
    key = (caller.client_id, caller.name, caller.region_code, audited)
    statement = _FAMILY_READS.get(key)
    if statement is None:
        family_id = bindparam("family_id", type_=Uuid())
        family = visible_families(caller).where(col(Family.id) == family_id).cte("family")
        query = select(
            family,
            _whole_rows(Member, family, "position").label("members"),
            _whole_rows(Enrollment, family, "program_code").label("enrollments"),
        )
        if audited:
            audit = read_audit(
                caller,
                ENTITY,
                family.c.id,
                family.c.village_code,
                request_id=bindparam("request_id", type_=String()),
            )
            query = query.add_cte(audit.cte())
        if len(_FAMILY_READS) >= _FAMILY_READS_CAPACITY:
            _FAMILY_READS.clear()
        statement = _FAMILY_READS[key] = DriverStatement.of(query)
    return statement


def _whole_rows(table: type[Any], family: CTE, order: str) -> ScalarSelect[Any]:
    """The family's rows of ``table``, whole (asyncpg hands each over with its column names),
    in ``order``, as an array."""
    rows = table.__table__.alias()
    return (
        select(func.array_agg(aggregate_order_by(rows.table_valued(), rows.c[order])))
        .where(rows.c.family_id == family.c.id)
        .scalar_subquery()
    )


@dataclass
class FamilyFilters:
    region: str | None = None
    village_code: str | None = None
    verification_status: str | None = None
    program: str | None = None
    enrollment_status: str | None = None
    desil: int | None = None
    updated_since: dt.datetime | None = None
    name: str | None = None
    nik: str | None = None
    no_kk: str | None = None


def family_query(caller: Caller, filters: FamilyFilters) -> Any:
    """The live families the caller may see that match ``filters``; shared by lists and export.
    Each filter is one of the attribute conditions of ``service.kpm.conditions``."""
    caller.require("kpm:read")
    wanted: list[conditions.Condition] = []
    if filters.region:
        wanted.append(conditions.in_region(normalize_region_code(filters.region, field="region")))
    if filters.village_code:
        village = normalize_region_code(filters.village_code, field="village_code")
        wanted.append(conditions.condition("village_code", "eq", village))
    if filters.verification_status:
        wanted.append(
            conditions.condition("verification_status", "eq", filters.verification_status)
        )
    if filters.desil is not None:
        wanted.append(conditions.condition("desil", "eq", filters.desil))
    if filters.updated_since is not None:
        wanted.append(conditions.updated_since(filters.updated_since))
    if filters.no_kk:
        wanted.append(conditions.condition("no_kk", "eq", filters.no_kk))
    if filters.program or filters.enrollment_status:
        wanted.append(conditions.enrolled(filters.program, filters.enrollment_status))
    if filters.nik:
        wanted.append(conditions.condition("nik", "eq", filters.nik))
    if filters.name:
        wanted.append(conditions.member_name_contains(filters.name))
    return live_families(caller).where(*(conditions.on_families(item) for item in wanted))


def live_families(caller: Caller) -> Select[Family]:
    """The live (not archived) families the caller may see: what every list starts from."""
    return visible_families(caller).where(col(Family.archived_at).is_(None))


async def list_families(
    session: AsyncSession,
    caller: Caller,
    filters: FamilyFilters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[FamilyRecord]:
    """Ordered by (updated_at, id): a system that syncs with ``updated_since`` pages forward."""
    check_limit(limit)
    page = await page_by_last_change(
        session, Family, family_query(caller, filters), limit=limit, cursor=cursor
    )
    records = await load_records(session, page.items)
    if records and caller.has(PII_SCOPE):
        await record_reads(
            session, caller, ENTITY, [(r.family.id, r.family.village_code) for r in records]
        )
    return Page(items=records, next_cursor=page.next_cursor)


# --- writing ---------------------------------------------------------------------------------


async def check_facilitator(
    session: AsyncSession, caller: Caller, facilitator_id: uuid.UUID | None
) -> None:
    if facilitator_id is None:
        return
    facilitator = await session.scalar(
        visible_facilitators(caller).where(col(Facilitator.id) == facilitator_id)
    )
    if facilitator is None:
        raise ValidationFailed(
            errors=[FieldError("facilitator_id", "unknown_facilitator", "No such facilitator.")]
        )


async def _ensure_numbers_free(
    session: AsyncSession,
    caller: Caller,
    *,
    no_kk: str | None,
    niks: Sequence[str],
    family_id: uuid.UUID | None,
) -> None:
    """A No KK and each NIK belong to at most one live family. A clash with a family outside the
    caller's region names only that family's regency, nothing else about it."""
    errors: list[FieldError] = []
    disclosed: list[Disclosure] = []

    def holder_text(field: str, holder_id: uuid.UUID, village_code: str) -> str:
        if not caller.can_see(village_code):
            disclosed.append(Disclosure(field, holder_id, village_code))
        return _holder_text(caller, holder_id, village_code)

    if no_kk is not None:
        holder = (
            await session.execute(
                select(col(Family.id), col(Family.village_code)).where(
                    col(Family.no_kk) == no_kk,
                    col(Family.archived_at).is_(None),
                    col(Family.id) != family_id if family_id else col(Family.id).is_not(None),
                )
            )
        ).first()
        if holder is not None:
            errors.append(FieldError("no_kk", "duplicate_no_kk", holder_text("no_kk", *holder)))
    if niks:
        holders = (
            await session.execute(
                select(col(Member.nik), col(Family.id), col(Family.village_code))
                .join(Family, col(Family.id) == Member.family_id)
                .where(col(Member.nik).in_(niks), col(Member.live))
                .where(col(Family.id) != family_id if family_id else col(Family.id).is_not(None))
            )
        ).all()
        by_nik = {nik: (holder_id, village) for nik, holder_id, village in holders}
        for index, nik in enumerate(niks):
            if nik in by_nik:
                field = f"members.{index}.nik"
                errors.append(
                    FieldError(field, "nik_in_other_family", holder_text(field, *by_nik[nik]))
                )
    if errors:
        raise IdentityConflict(
            "A NIK or No KK already belongs to another live family.",
            code="nik_conflict",
            errors=errors,
            caller=caller,
            disclosed=disclosed,
        )


def _holder_text(caller: Caller, family_id: uuid.UUID, village_code: str) -> str:
    if caller.can_see(village_code):
        return f"Already in live family {family_id}."
    return f"Already in a live family of regency {village_code[:5]}."


async def _flush_guarded(
    session: AsyncSession,
    caller: Caller,
    write: Callable[[], Awaitable[None]],
    *,
    no_kk: str | None,
    niks: Sequence[str],
    family_id: uuid.UUID | None,
) -> None:
    """Run ``write`` in a savepoint. Two requests that checked the same NIK at the same moment
    both pass the check; the unique index lets one in and the other lands here, as the same 409.

    ``write`` makes the changes itself, inside the savepoint: ``begin_nested`` flushes whatever
    is pending before the SAVEPOINT, so a NIK set or a member added earlier would hit the index
    outside it and abort the whole transaction (a 500, not a 409)."""
    try:
        async with session.begin_nested():
            await write()
            await session.flush()
    except IntegrityError:
        await _ensure_numbers_free(session, caller, no_kk=no_kk, niks=niks, family_id=family_id)
        raise Conflict("The family changed concurrently; try again.", code="conflict") from None


def created_changes(village_code: str, members: int, programs: list[str]) -> dict[str, list[Any]]:
    """The journal's account of a new family, whether it came one by one or in an import."""
    return {
        "no_kk": [None, MASK],
        "village_code": [None, village_code],
        "members": [None, members],
        "programs": [None, programs],
    }


async def create_family(session: AsyncSession, caller: Caller, data: FamilyCreate) -> FamilyRecord:
    caller.require("kpm:write")
    draft = FamilyDraft(
        no_kk=data.no_kk,
        village_code=data.village_code,
        address=data.address,
        desil=data.desil,
        members=[_member_draft(member) for member in data.members],
        programs=[code.upper() for code in data.programs],
        dtsen_id=data.dtsen_id,
        facilitator_id=data.facilitator_id,
    )
    refusals = check_family(
        draft,
        village_exists=await village_codes(session),
        program_exists=await program_codes(session),
        today=today(),
    )
    _raise_refusals(refusals)
    ensure_writable(caller, draft.village_code)
    await check_facilitator(session, caller, draft.facilitator_id)
    niks = [member.nik for member in draft.members]
    await _ensure_numbers_free(session, caller, no_kk=draft.no_kk, niks=niks, family_id=None)

    family = Family(
        no_kk=draft.no_kk,
        village_code=draft.village_code,
        address=draft.address,
        desil=draft.desil,
        dtsen_id=draft.dtsen_id,
        facilitator_id=draft.facilitator_id,
    )
    members = [
        Member(
            family_id=family.id,
            nik=m.nik,
            name=m.name.strip(),
            sex=m.sex,
            birth_date=m.birth_date,  # type: ignore[arg-type]  # checked: not None
            relationship=m.relationship,
            nik_mismatch=m.nik_mismatch,
            position=position,
        )
        for position, m in enumerate(draft.members)
    ]
    enrollments = [
        Enrollment(family_id=family.id, program_code=code, status="active", started_on=today())
        for code in sorted(set(draft.programs))
    ]

    async def write() -> None:
        # Flushed in turn: without ORM relationships (which could load lazily behind our back)
        # the unit of work does not know that a family goes in before its members.
        session.add(family)
        await session.flush()
        session.add_all([*members, *enrollments])

    await _flush_guarded(
        session,
        caller,
        write,
        no_kk=draft.no_kk,
        niks=niks,
        family_id=None,
    )
    await record_write(
        session,
        caller,
        action="create",
        entity=ENTITY,
        record_id=family.id,
        region_code=family.village_code,
        version=family.version,
        changes=created_changes(
            family.village_code, len(members), [e.program_code for e in enrollments]
        ),
    )
    return FamilyRecord(family, members, enrollments)


async def _writable_family(
    session: AsyncSession, caller: Caller, family_id: uuid.UUID, if_match: int | None
) -> Family:
    family = await get_family(session, caller, family_id, for_update=True)
    ensure_writable(caller, family.village_code)
    if family.archived_at is not None:
        raise Conflict("The family is archived.", code="archived")
    ensure_version(family.version, if_match)
    return family


def _audited_fields(family: Family) -> dict[str, str | None]:
    """The fields a family update may change, as the trail has always written them: text."""
    values = {name: getattr(family, name) for name in FamilyUpdate.model_fields}
    return {name: None if value is None else str(value) for name, value in values.items()}


async def update_family(
    session: AsyncSession,
    caller: Caller,
    family_id: uuid.UUID,
    data: FamilyUpdate,
    *,
    if_match: int | None,
) -> FamilyRecord:
    family = await _writable_family(session, caller, family_id, if_match)
    sent = data.model_dump(exclude_unset=True)
    errors: list[FieldError] = []
    if "village_code" in sent:
        village = parse_region_code(sent["village_code"] or "")
        if village is None or village not in await village_codes(session):
            errors.append(
                FieldError("village_code", "unknown_region", "No village with that code.")
            )
        else:
            ensure_writable(caller, village)  # moving a family out of the region is refused
            sent["village_code"] = village
    if sent.get("desil") is not None and not 1 <= sent["desil"] <= 10:
        errors.append(FieldError("desil", "invalid_value", "desil is 1 to 10."))
    if errors:
        raise ValidationFailed(errors=errors)
    if "facilitator_id" in sent:
        await check_facilitator(session, caller, sent["facilitator_id"])
    await apply_update(
        session,
        caller,
        family,
        sent,
        snapshot=_audited_fields,
        entity=ENTITY,
        region_of=lambda changed: changed.village_code,
    )
    (record,) = await load_records(session, [family])
    return record


async def archive_family(
    session: AsyncSession,
    caller: Caller,
    family_id: uuid.UUID,
    reason: str,
    *,
    if_match: int | None,
) -> FamilyRecord:
    """Out of lists, its No KK and NIKs free for another family; still readable by id."""
    family = await _writable_family(session, caller, family_id, if_match)
    family.archived_at = utcnow()
    family.archive_reason = reason
    members = list(await session.scalars(select(Member).where(col(Member.family_id) == family.id)))
    for member in members:
        member.live = False
    await record_change(
        session,
        caller,
        family,
        action="archive",
        entity=ENTITY,
        region_code=family.village_code,
        changes={
            "archived_at": [None, family.archived_at.isoformat()],
            "archive_reason": [None, reason],
        },
    )
    (record,) = await load_records(session, [family])
    return record


# --- members ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MemberChange:
    """A change to one member, described before anything is written: ``after`` is the family's
    members once it is made (a new member not yet added, a removed one left out) and ``values``
    the fields it sets on ``member``."""

    action: str  # add, change, remove
    member: Member
    after: list[Member]
    values: dict[str, Any]


def _draft_after(member: Member, change: _MemberChange) -> MemberDraft:
    fields = {
        name: getattr(member, name) for name in ("nik", "name", "sex", "birth_date", "relationship")
    }
    if member is change.member:
        fields.update(change.values)
    return MemberDraft(**fields)


async def _change_members(
    session: AsyncSession, caller: Caller, family: Family, change: _MemberChange
) -> FamilyRecord:
    """Re-check the whole family as it will be after a member change, then write the change,
    inside the NIK guard, as one family change."""
    drafts = [_draft_after(member, change) for member in change.after]
    _raise_refusals(check_members(drafts, today=today()))
    niks = [draft.nik for draft in drafts]
    await _ensure_numbers_free(session, caller, no_kk=None, niks=niks, family_id=family.id)

    async def write() -> None:
        if change.action == "add":
            session.add(change.member)
        elif change.action == "remove":
            await session.delete(change.member)
        for name, value in change.values.items():
            setattr(change.member, name, value)
        for member, draft in zip(change.after, drafts, strict=True):
            member.nik_mismatch = draft.nik_mismatch

    await _flush_guarded(session, caller, write, no_kk=None, niks=niks, family_id=family.id)
    await record_change(
        session,
        caller,
        family,
        entity=ENTITY,
        region_code=family.village_code,
        changes={"members": [change.action, str(change.member.id)]},
    )
    (record,) = await load_records(session, [family])
    return record


async def _family_members(session: AsyncSession, family: Family) -> list[Member]:
    return list(
        await session.scalars(
            select(Member)
            .where(col(Member.family_id) == family.id)
            .order_by(col(Member.position))
            .with_for_update()
        )
    )


async def add_member(
    session: AsyncSession,
    caller: Caller,
    family_id: uuid.UUID,
    data: MemberIn,
    *,
    if_match: int | None,
) -> FamilyRecord:
    family = await _writable_family(session, caller, family_id, if_match)
    members = await _family_members(session, family)
    member = Member(
        family_id=family.id,
        nik=data.nik,
        name=data.name,
        sex=data.sex.value,
        birth_date=data.birth_date,
        relationship=data.relationship.value,
        position=max((m.position for m in members), default=-1) + 1,
    )
    change = _MemberChange("add", member, [*members, member], {})
    return await _change_members(session, caller, family, change)


def _find_member(members: Iterable[Member], member_id: uuid.UUID) -> Member:
    for member in members:
        if member.id == member_id:
            return member
    raise NotFound.of("member")


async def update_member(
    session: AsyncSession,
    caller: Caller,
    family_id: uuid.UUID,
    member_id: uuid.UUID,
    data: MemberUpdate,
    *,
    if_match: int | None,
) -> FamilyRecord:
    family = await _writable_family(session, caller, family_id, if_match)
    members = await _family_members(session, family)
    member = _find_member(members, member_id)
    values: dict[str, Any] = {}
    for name, value in data.model_dump(exclude_unset=True, mode="json").items():
        if value is None:
            raise ValidationFailed(errors=[FieldError(name, "required", "Cannot be emptied.")])
        values[name] = dt.date.fromisoformat(value) if name == "birth_date" else value
    change = _MemberChange("change", member, members, values)
    return await _change_members(session, caller, family, change)


async def remove_member(
    session: AsyncSession,
    caller: Caller,
    family_id: uuid.UUID,
    member_id: uuid.UUID,
    *,
    if_match: int | None,
) -> FamilyRecord:
    family = await _writable_family(session, caller, family_id, if_match)
    members = await _family_members(session, family)
    member = _find_member(members, member_id)
    remaining = [m for m in members if m.id != member_id]
    if not remaining:
        raise ValidationFailed(
            errors=[FieldError("members", "last_member", "A family keeps at least one member.")]
        )
    change = _MemberChange("remove", member, remaining, {})
    return await _change_members(session, caller, family, change)
