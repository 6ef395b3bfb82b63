"""The rules a group's membership keeps, shared by group creation, member changes and the
status machine: group size, the region of member families, one active KUBE per family."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller
from service.errors import Conflict, FieldError, ValidationFailed
from service.kpm.families import visible_families
from service.kpm.tables import Family
from service.kube.tables import KubeGroup, KubeMember
from service.programs.tables import Program
from service.regions.codes import contains, regency_of


async def members_of(
    session: AsyncSession, group_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[KubeMember]]:
    """Members of any number of groups in one query, in the order they joined."""
    members: dict[uuid.UUID, list[KubeMember]] = defaultdict(list)
    if group_ids:
        for member in await session.scalars(
            select(KubeMember)
            .where(col(KubeMember.group_id).in_(group_ids))
            .order_by(col(KubeMember.joined_at), col(KubeMember.id))
        ):
            members[member.group_id].append(member)
    return members


async def group_program(session: AsyncSession, code: str) -> Program:
    return (await session.scalars(select(Program).where(col(Program.code) == code))).one()


def check_size(program: Program, count: int) -> None:
    """The member count must fit the program's group size (KUBE: 5 to 10 families)."""
    low, high = program.group_size_min, program.group_size_max
    if (low is not None and count < low) or (high is not None and count > high):
        raise Conflict(
            f"A {program.code} group has {low} to {high} member families; this one would "
            f"have {count}.",
            code="group_size",
            params={"min": low, "max": high, "count": count},
        )


async def checked_families(
    session: AsyncSession,
    caller: Caller,
    group: KubeGroup,
    family_ids: Sequence[uuid.UUID],
    fields: Sequence[str],
) -> None:
    """Each family must be one the caller can see, live, and lie in the group's regency.

    Why the regency: KUBE groups are formed and paid by the district social office
    (Dinas Sosial kabupaten/kota) that keeps the families' registry; a group may gather families
    of neighbouring villages, even districts, but never another office's families."""
    found = {
        family.id: family
        for family in await session.scalars(
            visible_families(caller).where(col(Family.id).in_(family_ids))
        )
    }
    errors: list[FieldError] = []
    area = regency_of(group.village_code)
    for family_id, field in zip(family_ids, fields, strict=True):
        family = found.get(family_id)
        if family is None:
            errors.append(FieldError(field, "unknown_family", "No family with that id."))
        elif family.archived_at is not None:
            errors.append(FieldError(field, "archived_family", "The family is archived."))
        elif not contains(area, family.village_code):
            errors.append(
                FieldError(
                    field,
                    "outside_group_regency",
                    f"The family lies outside regency {area}, the group's.",
                )
            )
    if errors:
        raise ValidationFailed(errors=errors)


async def ensure_not_in_other_active(
    session: AsyncSession, group: KubeGroup, family_ids: Sequence[uuid.UUID], *, field: str
) -> None:
    """A family belongs to at most one active KUBE. This check gives the clear answer; the
    partial unique index on ``kube_member`` is what holds under concurrency."""
    taken = list(
        await session.scalars(
            select(col(KubeMember.family_id)).where(
                col(KubeMember.family_id).in_(family_ids),
                col(KubeMember.group_active),
                col(KubeMember.group_id) != group.id,
            )
        )
    )
    if taken:
        raise Conflict(
            "A family already belongs to another active KUBE.",
            code="family_in_active_kube",
            errors=[
                FieldError(field, "in_other_active_kube", f"Family {family_id} is in another.")
                for family_id in taken
            ],
        )


async def write_guarded(
    session: AsyncSession,
    group: KubeGroup,
    family_ids: Sequence[uuid.UUID],
    write: Callable[[], Awaitable[None]],
    *,
    field: str,
) -> None:
    """Run ``write`` in a savepoint. Two requests that put one family in two active groups at
    once both pass the check; the unique index lets one in and the other lands here, as the
    same 409 (group-local races cannot happen: every member change locks the group row)."""
    try:
        async with session.begin_nested():
            await write()
    except IntegrityError:
        await ensure_not_in_other_active(session, group, family_ids, field=field)
        raise Conflict("The group changed concurrently; try again.", code="conflict") from None
