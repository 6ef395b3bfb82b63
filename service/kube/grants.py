"""KUBE capital grants: proposal, provincial recommendation, approval, payment, business reports,
closing; or rejection or cancellation. Every move is kept with who made it and when."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.kube import GrantCreate, GrantTransitionIn, GrantUpdate
from service.access import Caller, ensure_writable, fetch_visible, visible_to
from service.allocations.service import visible_allocations
from service.allocations.tables import Allocation
from service.disbursements.tables import Disbursement
from service.errors import Conflict, FieldError, Forbidden, ValidationFailed
from service.journal import apply_update, field_changes, record_change, record_write
from service.kube.groups import visible_groups
from service.kube.tables import OPEN_GRANT_STATUSES, KubeGrant, KubeGrantTransition, KubeGroup
from service.lists import in_region, page_by_last_change
from service.pagination import DEFAULT_LIMIT, Page
from service.regions.codes import RegionLevel, contains, level_of
from service.versions import ensure_version

ENTITY = "kube_grant"
NOT_FOUND = "KUBE grant"

# Which status may follow which, by an explicit transition. ``reporting`` is not among them:
# the group's first business report moves a disbursed grant there (service.kube.reports), so a
# grant in reporting always has a report. Closed, rejected and cancelled are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"recommended", "rejected", "cancelled"}),
    "recommended": frozenset({"approved", "rejected", "cancelled"}),
    "approved": frozenset({"disbursed", "cancelled"}),
    "disbursed": frozenset(),
    "reporting": frozenset({"closed"}),
    "closed": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
}
# Amount and allocation are settled at approval.
EDITABLE_STATUSES = frozenset({"proposed", "recommended"})


# --- reading ---------------------------------------------------------------------------------


def visible_grants(caller: Caller) -> Select[KubeGrant]:
    """KUBE grants whose group's village lies in the caller's region.
    The read by id and the list both start from it."""
    return select(KubeGrant).where(
        visible_to(caller, col(KubeGrant.village_code), national_rows_visible=False)
    )


async def get_grant(
    session: AsyncSession, caller: Caller, grant_id: uuid.UUID, *, for_update: bool = False
) -> KubeGrant:
    return await fetch_visible(
        session, caller, visible_grants(caller).where(col(KubeGrant.id) == grant_id),
        entity=NOT_FOUND, scopes=("kube:read", "kube:write"), for_update=for_update,
    )  # fmt: skip


async def writable_grant(
    session: AsyncSession, caller: Caller, grant_id: uuid.UUID, if_match: int | None
) -> KubeGrant:
    """The grant locked for a change; ``If-Match`` checked when sent (transitions and reports
    are guarded by the lock and the status machine)."""
    grant = await get_grant(session, caller, grant_id, for_update=True)
    ensure_writable(caller, grant.village_code)
    if if_match is not None:
        ensure_version(grant.version, if_match)
    return grant


@dataclass
class GrantFilters:
    region: str | None = None
    status: str | None = None
    group_id: uuid.UUID | None = None
    updated_since: dt.datetime | None = None


async def list_grants(
    session: AsyncSession,
    caller: Caller,
    filters: GrantFilters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[KubeGrant]:
    caller.require("kube:read")
    query = visible_grants(caller)
    if filters.region:
        query = query.where(in_region(col(KubeGrant.village_code), filters.region))
    if filters.status:
        query = query.where(col(KubeGrant.status) == filters.status)
    if filters.group_id:
        query = query.where(col(KubeGrant.group_id) == filters.group_id)
    return await page_by_last_change(
        session, KubeGrant, query, limit=limit, cursor=cursor, updated_since=filters.updated_since
    )


async def transitions_of(
    session: AsyncSession, grant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[KubeGrantTransition]]:
    """Status histories of any number of grants in one query, oldest first."""
    history: dict[uuid.UUID, list[KubeGrantTransition]] = defaultdict(list)
    if grant_ids:
        for transition in await session.scalars(
            select(KubeGrantTransition)
            .where(col(KubeGrantTransition.grant_id).in_(grant_ids))
            .order_by(col(KubeGrantTransition.at), col(KubeGrantTransition.id))
        ):
            history[transition.grant_id].append(transition)
    return history


async def grant_history(
    session: AsyncSession, caller: Caller, grant_id: uuid.UUID
) -> list[KubeGrantTransition]:
    grant = await get_grant(session, caller, grant_id)
    return (await transitions_of(session, [grant.id]))[grant.id]


async def groups_by_id(
    session: AsyncSession, group_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, KubeGroup]:
    """The groups of grants the caller already sees (a grant lies in its group's village)."""
    if not group_ids:
        return {}
    rows = await session.scalars(select(KubeGroup).where(col(KubeGroup.id).in_(group_ids)))
    return {group.id: group for group in rows}


# --- writing ---------------------------------------------------------------------------------


def record_transition(
    session: AsyncSession, caller: Caller, grant: KubeGrant, before: str | None, note: str | None
) -> None:
    session.add(
        KubeGrantTransition(
            grant_id=grant.id,
            from_status=before,
            to_status=grant.status,
            note=note,
            by_client=caller.client_id,
            by_name=caller.name,
        )
    )


async def _group_for_grant(session: AsyncSession, caller: Caller, group_id: uuid.UUID) -> KubeGroup:
    """The group, locked: grants of one group are made one at a time."""
    group = (
        await session.scalars(
            visible_groups(caller).where(col(KubeGroup.id) == group_id).with_for_update()
        )
    ).one_or_none()
    if group is None:
        raise ValidationFailed(
            errors=[FieldError("group_id", "unknown_group", "No KUBE group with that id.")]
        )
    ensure_writable(caller, group.village_code)
    if group.status != "active":
        raise Conflict("Grants are proposed for active groups only.", code="group_not_active")
    return group


async def _check_allocation(
    session: AsyncSession, caller: Caller, allocation_id: uuid.UUID | None, group: KubeGroup
) -> None:
    """The budget a grant is paid from: one the caller can see, covering the group's village,
    for the group's program (a province's KUBE allocation to the regency, say)."""
    if allocation_id is None:
        return
    allocation = await session.scalar(
        visible_allocations(caller).where(col(Allocation.id) == allocation_id)
    )
    if allocation is None:
        raise ValidationFailed(
            errors=[
                FieldError("allocation_id", "unknown_allocation", "No allocation with that id.")
            ]
        )
    if not contains(allocation.region_code, group.village_code):
        raise ValidationFailed(
            errors=[
                FieldError(
                    "allocation_id",
                    "allocation_elsewhere",
                    "The allocation does not cover the group's village.",
                )
            ]
        )
    if allocation.program_code != group.program_code:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "allocation_id",
                    "allocation_program_mismatch",
                    f"The allocation funds {allocation.program_code}, the group is "
                    f"{group.program_code}.",
                )
            ]
        )


def _open_grant_conflict() -> Conflict:
    return Conflict(
        "The group already has a grant under way; close, reject or cancel it first.",
        code="open_grant_exists",
    )


async def create_grant(session: AsyncSession, caller: Caller, data: GrantCreate) -> KubeGrant:
    """A grant starts ``proposed``, for an active group, one running grant per group."""
    caller.require("kube:write")
    group = await _group_for_grant(session, caller, data.group_id)
    running = await session.scalar(
        select(col(KubeGrant.id)).where(
            col(KubeGrant.group_id) == group.id, col(KubeGrant.status).in_(OPEN_GRANT_STATUSES)
        )
    )
    if running is not None:
        raise _open_grant_conflict()
    await _check_allocation(session, caller, data.allocation_id, group)
    grant = KubeGrant(
        group_id=group.id,
        village_code=group.village_code,
        allocation_id=data.allocation_id,
        amount=data.amount,
        purpose=data.purpose,
        status="proposed",
    )
    session.add(grant)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # the partial unique index, should the group lock ever be bypassed
        raise _open_grant_conflict() from None
    record_transition(session, caller, grant, None, None)
    await record_write(
        session,
        caller,
        action="create",
        entity=ENTITY,
        record_id=grant.id,
        region_code=grant.village_code,
        version=grant.version,
        changes=field_changes({}, _snapshot(grant)),
    )
    return grant


def _snapshot(grant: KubeGrant) -> dict[str, Any]:
    return {
        "group_id": grant.group_id,
        "allocation_id": grant.allocation_id,
        "amount": grant.amount,
        "purpose": grant.purpose,
        "status": grant.status,
    }


async def update_grant(
    session: AsyncSession,
    caller: Caller,
    grant_id: uuid.UUID,
    data: GrantUpdate,
    *,
    if_match: int | None,
) -> KubeGrant:
    grant = await get_grant(session, caller, grant_id, for_update=True)
    ensure_writable(caller, grant.village_code)
    ensure_version(grant.version, if_match)
    if grant.status not in EDITABLE_STATUSES:
        raise Conflict(
            f"A grant that is {grant.status} can no longer be changed.",
            code="grant_locked",
            params={"status": grant.status},
        )
    sent = data.model_dump(exclude_unset=True)
    if "amount" in sent and sent["amount"] is None:
        raise ValidationFailed(errors=[FieldError("amount", "required", "Cannot be emptied.")])
    if sent.get("allocation_id") is not None:
        group = await session.get(KubeGroup, grant.group_id)
        assert group is not None  # a grant's group is never deleted (foreign key)
        await _check_allocation(session, caller, sent["allocation_id"], group)
    await apply_update(
        session, caller, grant, sent, snapshot=_snapshot, entity=ENTITY,
        region_of=lambda record: record.village_code,
    )  # fmt: skip
    return grant


def _ensure_may_recommend(caller: Caller) -> None:
    """The province recommends (Dinas Sosial provinsi, as in the KUBE program): the caller must
    be bound to a province, or be national. A regency, district or village client may propose,
    but not recommend its own proposals."""
    if caller.region_code is not None and level_of(caller.region_code) != RegionLevel.province:
        raise Forbidden(
            "Only a provincial or national client recommends a grant.",
            code="province_required",
        )


async def transition_grant(
    session: AsyncSession,
    caller: Caller,
    grant_id: uuid.UUID,
    data: GrantTransitionIn,
    *,
    if_match: int | None = None,
) -> KubeGrant:
    grant = await writable_grant(session, caller, grant_id, if_match)
    target = data.to.value
    if target not in TRANSITIONS[grant.status]:
        raise Conflict(
            f"A grant that is {grant.status} cannot become {target}.",
            code="invalid_transition",
            params={"from": grant.status, "to": target},
        )
    if target == "recommended":
        _ensure_may_recommend(caller)
    if target == "disbursed":
        await _ensure_paid(session, grant)
    await apply_transition(session, caller, grant, target, data.note)
    return grant


async def _ensure_paid(session: AsyncSession, grant: KubeGrant) -> None:
    """A grant funded by an allocation here is disbursed when its money went out of it: a
    payment to the group, from that allocation, of the grant's amount, sent or confirmed. The
    status alone moves no money; the payment (``/api/v1/disbursements``) is what the budget
    counts. A grant with no allocation records money paid outside this service."""
    if grant.allocation_id is None:
        return
    paid = await session.scalar(
        select(
            exists().where(
                col(Disbursement.recipient_kind) == "kube",
                col(Disbursement.recipient_id) == grant.group_id,
                col(Disbursement.allocation_id) == grant.allocation_id,
                col(Disbursement.amount) == grant.amount,
                col(Disbursement.status).in_(("sent", "confirmed")),
            )
        )
    )
    if not paid:
        raise Conflict(
            "Pay the grant first: a disbursement to the group from the grant's allocation, of "
            "the grant's amount, sent or confirmed.",
            code="grant_not_paid",
        )


async def apply_transition(
    session: AsyncSession, caller: Caller, grant: KubeGrant, target: str, note: str | None
) -> None:
    before = grant.status
    grant.status = target
    record_transition(session, caller, grant, before, note)
    await record_change(
        session,
        caller,
        grant,
        action="transition",
        entity=ENTITY,
        region_code=grant.village_code,
        changes={"status": [before, target]},
    )
