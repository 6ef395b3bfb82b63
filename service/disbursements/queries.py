"""Reading disbursements: one, a list, a history. Each query takes the caller, so a
disbursement outside the caller's region is never found."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.disbursements import DisbursementOut
from service.access import Caller, visible_to
from service.disbursements.rules import ENTITY, READ_SCOPE
from service.disbursements.tables import Disbursement, DisbursementTransition
from service.errors import NotFound
from service.lists import in_region, page_by_last_change
from service.pagination import DEFAULT_LIMIT, Page, check_limit


def present_disbursement(disbursement: Disbursement) -> DisbursementOut:
    return DisbursementOut.model_validate(disbursement, from_attributes=True)


def visible_disbursements(caller: Caller) -> Select[Disbursement]:
    """Disbursements to recipients in the caller's region.
    The read by id and the list both start from it."""
    return select(Disbursement).where(
        visible_to(caller, col(Disbursement.region_code), national_rows_visible=False)
    )


async def find_disbursement(
    session: AsyncSession, caller: Caller, disbursement_id: uuid.UUID, *, for_update: bool = False
) -> Disbursement:
    """The disbursement, fresh from the database (bulk writes bypass the session's cache)."""
    query = visible_disbursements(caller).where(col(Disbursement.id) == disbursement_id)
    if for_update:
        query = query.with_for_update()
    disbursement = (
        await session.scalars(query.execution_options(populate_existing=True))
    ).one_or_none()
    if disbursement is None:
        raise NotFound.of(ENTITY)
    return disbursement


async def get_disbursement(
    session: AsyncSession, caller: Caller, disbursement_id: uuid.UUID
) -> Disbursement:
    caller.require(READ_SCOPE)
    return await find_disbursement(session, caller, disbursement_id)


@dataclass
class DisbursementFilters:
    allocation_id: uuid.UUID | None = None
    program: str | None = None
    status: str | None = None
    region: str | None = None
    recipient_id: uuid.UUID | None = None
    period: str | None = None
    external_reference: str | None = None
    updated_since: dt.datetime | None = None


async def list_disbursements(
    session: AsyncSession,
    caller: Caller,
    filters: DisbursementFilters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Disbursement]:
    """Ordered by (updated_at, id): a status change moves a disbursement to the end, so
    ``updated_since`` plus the cursor picks up every settlement."""
    caller.require(READ_SCOPE)
    check_limit(limit)
    query = visible_disbursements(caller)
    if filters.allocation_id is not None:
        query = query.where(col(Disbursement.allocation_id) == filters.allocation_id)
    if filters.program:
        query = query.where(col(Disbursement.program_code) == filters.program.upper())
    if filters.status:
        query = query.where(col(Disbursement.status) == filters.status)
    if filters.region:
        query = query.where(in_region(col(Disbursement.region_code), filters.region))
    if filters.recipient_id is not None:
        query = query.where(col(Disbursement.recipient_id) == filters.recipient_id)
    if filters.period:
        query = query.where(col(Disbursement.period) == filters.period)
    if filters.external_reference:
        query = query.where(col(Disbursement.external_reference) == filters.external_reference)
    return await page_by_last_change(
        session,
        Disbursement,
        query,
        limit=limit,
        cursor=cursor,
        updated_since=filters.updated_since,
    )


def _history(disbursement_ids: Sequence[uuid.UUID]) -> Select[DisbursementTransition]:
    return (
        select(DisbursementTransition)
        .where(col(DisbursementTransition.disbursement_id).in_(disbursement_ids))
        .order_by(col(DisbursementTransition.id))
    )


async def transitions_of(
    session: AsyncSession, disbursement_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[DisbursementTransition]]:
    """The histories of any number of disbursements in one query, oldest first: for
    disbursements read through ``visible_disbursements`` (GraphQL's nested field)."""
    history: dict[uuid.UUID, list[DisbursementTransition]] = defaultdict(list)
    if disbursement_ids:
        for transition in await session.scalars(_history(disbursement_ids)):
            history[transition.disbursement_id].append(transition)
    return history


async def list_transitions(
    session: AsyncSession, caller: Caller, disbursement_id: uuid.UUID
) -> list[DisbursementTransition]:
    disbursement = await get_disbursement(session, caller, disbursement_id)
    return list(await session.scalars(_history([disbursement.id])))
