"""KUBE groups: create, read, list, change, and the status machine with its activation rule."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.kube import KubeGroupCreate, KubeGroupUpdate, KubeMemberIn, KubeTransitionIn
from service.access import Caller, ensure_writable, fetch_visible, visible_to
from service.errors import Conflict, ErrorList, FieldError, ValidationFailed
from service.journal import apply_update, field_changes, record_change, record_write
from service.kpm.families import check_facilitator
from service.kpm.reference import village_codes
from service.kpm.tables import Family
from service.kube.rules import (
    check_size,
    checked_families,
    ensure_not_in_other_active,
    group_program,
    members_of,
    write_guarded,
)
from service.kube.tables import OPEN_GRANT_STATUSES, KubeGrant, KubeGroup, KubeMember
from service.kube.views import GroupRecord
from service.lists import in_region, name_contains, page_by_last_change
from service.pagination import DEFAULT_LIMIT, Page
from service.programs.service import visible_programs
from service.programs.tables import Program
from service.regions.codes import contains, parse_region_code, regency_of
from service.versions import ensure_version

ENTITY = "kube"
NOT_FOUND = "KUBE group"

# Which status may follow which. A dormant group may come back (inactive -> active, checked
# again like a first activation); dissolution is final: a group that re-forms is a new group.
TRANSITIONS: dict[str, frozenset[str]] = {
    "forming": frozenset({"active", "dissolved"}),
    "active": frozenset({"inactive", "dissolved"}),
    "inactive": frozenset({"active", "dissolved"}),
    "dissolved": frozenset(),
}


# --- reading ---------------------------------------------------------------------------------


async def load_records(session: AsyncSession, groups: Sequence[KubeGroup]) -> list[GroupRecord]:
    members = await members_of(session, [group.id for group in groups])
    return [GroupRecord(group, members[group.id]) for group in groups]


def visible_groups(caller: Caller) -> Select[KubeGroup]:
    """KUBE groups whose village lies in the caller's region.
    The read by id and the list both start from it."""
    return select(KubeGroup).where(
        visible_to(caller, col(KubeGroup.village_code), national_rows_visible=False)
    )


async def get_group(
    session: AsyncSession, caller: Caller, group_id: uuid.UUID, *, for_update: bool = False
) -> KubeGroup:
    return await fetch_visible(
        session, caller, visible_groups(caller).where(col(KubeGroup.id) == group_id),
        entity=NOT_FOUND, scopes=("kube:read", "kube:write"), for_update=for_update,
    )  # fmt: skip


async def read_group(session: AsyncSession, caller: Caller, group_id: uuid.UUID) -> GroupRecord:
    (record,) = await load_records(session, [await get_group(session, caller, group_id)])
    return record


@dataclass
class GroupFilters:
    region: str | None = None
    village_code: str | None = None
    status: str | None = None
    program: str | None = None
    updated_since: dt.datetime | None = None
    name: str | None = None


async def find_groups(
    session: AsyncSession,
    caller: Caller,
    filters: GroupFilters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[KubeGroup]:
    """Groups in the caller's region, ordered by last change (without their members)."""
    caller.require("kube:read")
    query = visible_groups(caller)
    if filters.region:
        query = query.where(in_region(col(KubeGroup.village_code), filters.region))
    if filters.village_code:
        query = query.where(
            in_region(col(KubeGroup.village_code), filters.village_code, field="village_code")
        )
    if filters.status:
        query = query.where(col(KubeGroup.status) == filters.status)
    if filters.program:
        query = query.where(col(KubeGroup.program_code) == filters.program.upper())
    if filters.name:
        query = query.where(name_contains(col(KubeGroup.name), filters.name))
    return await page_by_last_change(
        session,
        KubeGroup,
        query,
        limit=limit,
        cursor=cursor,
        updated_since=filters.updated_since,
    )


async def list_groups(
    session: AsyncSession,
    caller: Caller,
    filters: GroupFilters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[GroupRecord]:
    """Groups in the caller's region with their members, ordered by last change."""
    page = await find_groups(session, caller, filters, limit=limit, cursor=cursor)
    return Page(items=await load_records(session, page.items), next_cursor=page.next_cursor)


# --- writing ---------------------------------------------------------------------------------


async def writable_group(
    session: AsyncSession, caller: Caller, group_id: uuid.UUID, if_match: int | None
) -> KubeGroup:
    """The group locked for a change. ``If-Match`` is checked when sent: member and status
    changes are guarded by the lock and the rules themselves, so a client that did not read the
    latest version cannot break them."""
    group = await get_group(session, caller, group_id, for_update=True)
    ensure_writable(caller, group.village_code)
    if if_match is not None:
        ensure_version(group.version, if_match)
    return group


async def _village(session: AsyncSession, raw: str, errors: ErrorList) -> str | None:
    village = parse_region_code(raw)
    if village is None or village not in await village_codes(session):
        errors.add("village_code", "unknown_region", "No village with that code.")
        return None
    return village


async def _program(session: AsyncSession, caller: Caller, code: str, errors: ErrorList) -> str:
    program = await session.scalar(
        visible_programs(caller).where(col(Program.code) == code.upper())
    )
    if program is None:
        errors.add("program_code", "unknown_program", "No program with that code.")
    return code.upper()


def _snapshot(group: KubeGroup) -> dict[str, Any]:
    return {
        name: getattr(group, name)
        for name in ("name", "village_code", "program_code", "business_category", "status")
    } | {"facilitator_id": group.facilitator_id}


async def create_group(session: AsyncSession, caller: Caller, data: KubeGroupCreate) -> GroupRecord:
    """A new group starts ``forming``, with the founding members given (if any)."""
    caller.require("kube:write")
    errors = ErrorList()
    village = await _village(session, data.village_code, errors)
    program_code = await _program(session, caller, data.program_code, errors)
    errors.raise_if_any()
    assert village is not None
    ensure_writable(caller, village)
    await check_facilitator(session, caller, data.facilitator_id)
    group = KubeGroup(
        name=data.name,
        village_code=village,
        program_code=program_code,
        business_category=data.business_category.value,
        facilitator_id=data.facilitator_id,
    )
    session.add(group)
    await session.flush()
    members = await _founding_members(session, caller, group, data.members)
    await record_write(
        session,
        caller,
        action="create",
        entity=ENTITY,
        record_id=group.id,
        region_code=group.village_code,
        version=group.version,
        changes=field_changes({}, _snapshot(group)) | {"members": [None, len(members)]},
    )
    return GroupRecord(group, members)


async def _founding_members(
    session: AsyncSession, caller: Caller, group: KubeGroup, wanted: Sequence[KubeMemberIn]
) -> list[KubeMember]:
    errors = ErrorList()
    seen: set[uuid.UUID] = set()
    seats: set[str] = set()
    for index, item in enumerate(wanted):
        if item.family_id in seen:
            errors.add(f"members.{index}.family_id", "duplicate_family", "Listed twice.")
        if item.role.value != "anggota" and item.role.value in seats:
            errors.add(f"members.{index}.role", "duplicate_role", "A group has one of each.")
        seen.add(item.family_id)
        seats.add(item.role.value)
    errors.raise_if_any()
    if not wanted:
        return []
    high = (await group_program(session, group.program_code)).group_size_max
    if high is not None and len(wanted) > high:
        raise ValidationFailed(
            errors=[FieldError("members", "group_size", f"At most {high} member families.")]
        )
    family_ids = [item.family_id for item in wanted]
    await checked_families(
        session,
        caller,
        group,
        family_ids,
        [f"members.{index}.family_id" for index in range(len(wanted))],
    )
    members = [
        KubeMember(group_id=group.id, family_id=item.family_id, role=item.role.value)
        for item in wanted
    ]
    session.add_all(members)
    await session.flush()
    return members


async def update_group(
    session: AsyncSession,
    caller: Caller,
    group_id: uuid.UUID,
    data: KubeGroupUpdate,
    *,
    if_match: int | None,
) -> GroupRecord:
    group = await get_group(session, caller, group_id, for_update=True)
    ensure_writable(caller, group.village_code)
    ensure_version(group.version, if_match)
    if group.status == "dissolved":
        raise Conflict("The group is dissolved.", code="group_dissolved")
    sent = data.model_dump(mode="json", exclude_unset=True)
    errors = ErrorList()
    for name in ("name", "business_category", "village_code"):
        if name in sent and sent[name] is None:
            errors.add(name, "required", "Cannot be emptied.")
    if sent.get("village_code") is not None:
        sent["village_code"] = await _village(session, sent["village_code"], errors)
    errors.raise_if_any()
    if "village_code" in sent and sent["village_code"] != group.village_code:
        await _check_move(session, caller, group, sent["village_code"])
    if "facilitator_id" in sent:
        await check_facilitator(session, caller, data.facilitator_id)
        sent["facilitator_id"] = data.facilitator_id
    await apply_update(
        session, caller, group, sent, snapshot=_snapshot, entity=ENTITY,
        region_of=lambda record: record.village_code,
    )  # fmt: skip
    (record,) = await load_records(session, [group])
    return record


async def _check_move(
    session: AsyncSession, caller: Caller, group: KubeGroup, village: str
) -> None:
    """A group moves only while forming (grants are given to active groups and keep the
    village they were given in), and only where all its families lie in the same regency."""
    ensure_writable(caller, village)
    if group.status != "forming":
        raise Conflict("Only a forming group can move to another village.", code="not_forming")
    villages = await session.scalars(
        select(col(Family.village_code))
        .join(KubeMember, col(KubeMember.family_id) == Family.id)
        .where(col(KubeMember.group_id) == group.id)
    )
    if any(not contains(regency_of(village), member_village) for member_village in villages):
        raise ValidationFailed(
            errors=[
                FieldError(
                    "village_code",
                    "outside_group_regency",
                    "Every member family must lie in the regency of the group's village.",
                )
            ]
        )


async def change_status(
    session: AsyncSession,
    caller: Caller,
    group_id: uuid.UUID,
    data: KubeTransitionIn,
    *,
    if_match: int | None,
) -> GroupRecord:
    """Move the group along its status machine. Activation (from forming or inactive) needs the
    program's group size and exactly one ketua, and no member family in another active KUBE."""
    group = await writable_group(session, caller, group_id, if_match)
    target = data.to.value
    if target not in TRANSITIONS[group.status]:
        raise Conflict(
            f"A group that is {group.status} cannot become {target}.",
            code="invalid_transition",
            params={"from": group.status, "to": target},
        )
    members = (await members_of(session, [group.id]))[group.id]
    family_ids = [member.family_id for member in members]
    if target == "active":
        check_size(await group_program(session, group.program_code), len(members))
        if not any(member.role == "ketua" for member in members):
            raise Conflict("An active group needs its ketua.", code="ketua_required")
        await ensure_not_in_other_active(session, group, family_ids, field="members")
    if target == "dissolved":
        open_grant = await session.scalar(
            select(col(KubeGrant.id)).where(
                col(KubeGrant.group_id) == group.id,
                col(KubeGrant.status).in_(OPEN_GRANT_STATUSES),
            )
        )
        if open_grant is not None:
            raise Conflict(
                "Close, reject or cancel the group's running grant before dissolving it.",
                code="open_grant",
            )
    before = group.status

    async def mark_members() -> None:
        await session.execute(
            update(KubeMember)
            .where(col(KubeMember.group_id) == group.id)
            .values(group_active=target == "active")
            .execution_options(synchronize_session="fetch")
        )

    await write_guarded(session, group, family_ids, mark_members, field="members")
    group.status = target
    await record_change(
        session,
        caller,
        group,
        action="transition",
        entity=ENTITY,
        region_code=group.village_code,
        changes={"status": [before, target]} | ({"note": [None, data.note]} if data.note else {}),
    )
    (record,) = await load_records(session, [group])
    return record
