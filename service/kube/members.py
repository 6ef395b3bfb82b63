"""Member families of a KUBE: add, change role, remove. A member change is a change to the group
(new version, one change event), as a member change is to a family."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.kube import KubeMemberIn, KubeMemberRole
from service.access import Caller
from service.errors import Conflict, NotFound
from service.journal import record_change
from service.kube.groups import ENTITY, load_records, writable_group
from service.kube.rules import (
    check_size,
    checked_families,
    ensure_not_in_other_active,
    group_program,
    members_of,
    write_guarded,
)
from service.kube.tables import KubeGroup, KubeMember
from service.kube.views import GroupRecord

# Ketua, sekretaris and bendahara are single seats: giving one to a family moves its holder to
# anggota in the same write (a handover), so an active group never goes without its ketua.
OFFICER_ROLES = frozenset({"ketua", "sekretaris", "bendahara"})


async def _changeable(
    session: AsyncSession, caller: Caller, group_id: uuid.UUID, if_match: int | None
) -> tuple[KubeGroup, list[KubeMember]]:
    group = await writable_group(session, caller, group_id, if_match)
    if group.status == "dissolved":
        raise Conflict("The group is dissolved.", code="group_dissolved")
    return group, (await members_of(session, [group.id]))[group.id]


def _seat_holder(members: list[KubeMember], role: str, other_than: uuid.UUID) -> KubeMember | None:
    if role not in OFFICER_ROLES:
        return None
    return next((m for m in members if m.role == role and m.family_id != other_than), None)


async def _journal(
    session: AsyncSession, caller: Caller, group: KubeGroup, change: list[str | None]
) -> GroupRecord:
    await record_change(
        session,
        caller,
        group,
        entity=ENTITY,
        region_code=group.village_code,
        changes={"members": list(change)},
    )
    (record,) = await load_records(session, [group])
    return record


async def add_member(
    session: AsyncSession,
    caller: Caller,
    group_id: uuid.UUID,
    data: KubeMemberIn,
    *,
    if_match: int | None = None,
) -> GroupRecord:
    """Add a family with a role. The family must be visible to the caller, live, and lie in the
    group's regency; a group never grows past the program's maximum; a family joins an active
    group only when it is in no other active group."""
    group, members = await _changeable(session, caller, group_id, if_match)
    if any(member.family_id == data.family_id for member in members):
        raise Conflict("The family is already a member.", code="already_member")
    await checked_families(session, caller, group, [data.family_id], ["family_id"])
    high = (await group_program(session, group.program_code)).group_size_max
    if high is not None and len(members) >= high:
        raise Conflict(
            f"The group already has {high} member families, the most its program allows.",
            code="group_full",
            params={"max": high},
        )
    active = group.status == "active"
    if active:
        await ensure_not_in_other_active(session, group, [data.family_id], field="family_id")
    holder = _seat_holder(members, data.role.value, data.family_id)
    member = KubeMember(
        group_id=group.id, family_id=data.family_id, role=data.role.value, group_active=active
    )

    async def write() -> None:
        if holder is not None:
            holder.role = "anggota"
            await session.flush()
        session.add(member)
        await session.flush()

    await write_guarded(session, group, [data.family_id], write, field="family_id")
    return await _journal(session, caller, group, ["add", str(data.family_id)])


def _find(members: list[KubeMember], family_id: uuid.UUID) -> KubeMember:
    for member in members:
        if member.family_id == family_id:
            return member
    raise NotFound.of("KUBE member")


async def change_role(
    session: AsyncSession,
    caller: Caller,
    group_id: uuid.UUID,
    family_id: uuid.UUID,
    data: KubeMemberRole,
    *,
    if_match: int | None = None,
) -> GroupRecord:
    """Give a member another role; an officer seat moves from its holder (who becomes anggota).
    The ketua of an active group hands over by giving the seat to another member."""
    group, members = await _changeable(session, caller, group_id, if_match)
    member = _find(members, family_id)
    role = data.role.value
    if role == member.role:
        (record,) = await load_records(session, [group])
        return record
    if member.role == "ketua" and group.status == "active":
        raise Conflict(
            "An active group keeps its ketua: give the seat to another member instead.",
            code="ketua_required",
        )
    holder = _seat_holder(members, role, family_id)
    before = member.role

    async def write() -> None:
        if holder is not None:
            holder.role = "anggota"
            await session.flush()
        member.role = role
        await session.flush()

    await write_guarded(session, group, [family_id], write, field="family_id")
    return await _journal(session, caller, group, ["role", f"{family_id} {before}->{role}"])


async def remove_member(
    session: AsyncSession,
    caller: Caller,
    group_id: uuid.UUID,
    family_id: uuid.UUID,
    *,
    if_match: int | None = None,
) -> GroupRecord:
    """Take a family out of the group. An active group keeps its ketua and at least the
    program's minimum of families; the membership stays in the audit trail."""
    group, members = await _changeable(session, caller, group_id, if_match)
    member = _find(members, family_id)
    if group.status == "active":
        if member.role == "ketua":
            raise Conflict(
                "An active group keeps its ketua: give the seat to another member first.",
                code="ketua_required",
            )
        check_size(await group_program(session, group.program_code), len(members) - 1)
    await session.delete(member)
    await session.flush()
    return await _journal(session, caller, group, ["remove", str(family_id)])
