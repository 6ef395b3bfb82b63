"""Budget allocations: create, read, list, change. The running sums (``committed``,
``confirmed``) belong to the disbursement writes; here an office sets and revises the budget."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.allocations import AllocationCreate, AllocationUpdate
from service.access import Caller, ensure_writable, fetch_visible, visible_to
from service.allocations.sums import ENTITY
from service.allocations.tables import Allocation

# Re-exported: the doors and the change feed present allocations through this module.
from service.allocations.views import present_allocation as present_allocation
from service.disbursements.tables import Disbursement
from service.errors import Conflict, ErrorList, FieldError
from service.journal import apply_update, field_changes, record_write
from service.lists import in_region, page_by_last_change
from service.pagination import DEFAULT_LIMIT, Page, check_limit
from service.programs.service import visible_programs
from service.programs.tables import Program
from service.regions.codes import (
    RegionLevel,
    contains,
    level_of,
    parse_region_code,
)
from service.regions.service import regions_exist
from service.versions import ensure_version

READ_SCOPE = "allocations:read"
WRITE_SCOPE = "allocations:write"


def visible_allocations(caller: Caller) -> Select[Allocation]:
    """Allocations for the caller's region or a region inside it.
    The read by id and the list both start from it."""
    return select(Allocation).where(
        visible_to(caller, col(Allocation.region_code), national_rows_visible=False)
    )


async def get_allocation(
    session: AsyncSession, caller: Caller, allocation_id: uuid.UUID, *, for_update: bool = False
) -> Allocation:
    # Fresh from the database: disbursement writes move the running sums in bulk statements.
    query = visible_allocations(caller).where(col(Allocation.id) == allocation_id)
    return await fetch_visible(
        session,
        caller,
        query.execution_options(populate_existing=True),
        entity=ENTITY,
        scopes=(READ_SCOPE, WRITE_SCOPE),
        for_update=for_update,
    )


@dataclass
class AllocationFilters:
    program: str | None = None
    fiscal_year: int | None = None
    funding_source: str | None = None
    region: str | None = None
    updated_since: dt.datetime | None = None


async def list_allocations(
    session: AsyncSession,
    caller: Caller,
    filters: AllocationFilters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Allocation]:
    """Ordered by (updated_at, id), so ``updated_since`` plus the cursor is an incremental sync."""
    caller.require(READ_SCOPE)
    check_limit(limit)
    query = visible_allocations(caller)
    if filters.program:
        query = query.where(col(Allocation.program_code) == filters.program.upper())
    if filters.fiscal_year is not None:
        query = query.where(col(Allocation.fiscal_year) == filters.fiscal_year)
    if filters.funding_source:
        query = query.where(col(Allocation.funding_source) == filters.funding_source)
    if filters.region:
        query = query.where(in_region(col(Allocation.region_code), filters.region))
    return await page_by_last_change(
        session,
        Allocation,
        query,
        limit=limit,
        cursor=cursor,
        updated_since=filters.updated_since,
    )


async def _checked_region(session: AsyncSession, raw: str, errors: ErrorList) -> str | None:
    """A budget is for a province or a regency: the levels that hold a budget of their own."""
    region = parse_region_code(raw)
    if region is None:
        errors.add("region_code", "invalid_region_code", "Not a region code.")
        return None
    if level_of(region) not in (RegionLevel.province, RegionLevel.regency):
        errors.add("region_code", "wrong_level", "An allocation is for a province or a regency.")
    elif not await regions_exist(session, {region}):
        errors.add("region_code", "unknown_region", "No region with that code.")
    return region


async def _checked_program(
    session: AsyncSession, caller: Caller, code: str, region: str | None, errors: ErrorList
) -> str:
    program = await session.scalar(
        visible_programs(caller).where(col(Program.code) == code.upper())
    )
    if program is None:
        errors.add("program_code", "unknown_program", "No program with that code.")
        return code.upper()
    # A local program's money stays in the program's own region.
    if program.region_code and region and not contains(program.region_code, region):
        errors.add(
            "region_code",
            "outside_program_region",
            f"Program {program.code} is run in region {program.region_code} only.",
        )
    return program.code


def _snapshot(allocation: Allocation) -> dict[str, Any]:
    return {
        "program_code": allocation.program_code,
        "fiscal_year": allocation.fiscal_year,
        "funding_source": allocation.funding_source,
        "region_code": allocation.region_code,
        "amount": allocation.amount,
    }


def _duplicate() -> Conflict:
    return Conflict(
        "An allocation for that program, fiscal year, funding source and region exists; "
        "change its amount instead.",
        code="duplicate_allocation",
    )


@asynccontextmanager
async def _unique_guard(session: AsyncSession) -> AsyncIterator[None]:
    """Make the write inside this block: two offices creating (or moving) the same allocation at
    once both pass every check, and the unique index lets one in; the other gets a clean 409,
    its transaction intact. The changes must be made inside: ``begin_nested`` flushes whatever
    is pending before the SAVEPOINT."""
    try:
        async with session.begin_nested():
            yield
            await session.flush()
    except IntegrityError:
        raise _duplicate() from None


async def create_allocation(
    session: AsyncSession, caller: Caller, data: AllocationCreate
) -> Allocation:
    caller.require(WRITE_SCOPE)
    errors = ErrorList()
    region = await _checked_region(session, data.region_code, errors)
    program_code = await _checked_program(session, caller, data.program_code, region, errors)
    errors.raise_if_any()
    assert region is not None
    ensure_writable(caller, region)
    allocation = Allocation(
        program_code=program_code,
        fiscal_year=data.fiscal_year,
        funding_source=data.funding_source.value,
        region_code=region,
        amount=data.amount,
    )
    async with _unique_guard(session):
        session.add(allocation)
    await record_write(
        session,
        caller,
        action="create",
        entity=ENTITY,
        record_id=allocation.id,
        region_code=allocation.region_code,
        version=allocation.version,
        changes=field_changes({}, _snapshot(allocation)),
    )
    return allocation


async def update_allocation(
    session: AsyncSession,
    caller: Caller,
    allocation_id: uuid.UUID,
    data: AllocationUpdate,
    *,
    if_match: int | None,
) -> Allocation:
    # The row lock also waits for disbursements being written against this allocation, so the
    # committed sum compared below is final until we commit.
    allocation = await get_allocation(session, caller, allocation_id, for_update=True)
    ensure_writable(caller, allocation.region_code)
    ensure_version(allocation.version, if_match)
    sent = data.model_dump(mode="json", exclude_unset=True)
    errors = ErrorList()
    for name, value in sent.items():
        if value is None:
            errors.add(name, "required", f"{name} cannot be emptied.")
    errors.raise_if_any()
    if "amount" in sent and sent["amount"] < allocation.committed:
        raise Conflict(
            f"The amount cannot go below the {allocation.committed} rupiah already committed "
            "to disbursements.",
            code="amount_below_committed",
            params={"committed": allocation.committed},
            errors=[FieldError("amount", "below_committed", "Below the committed sum.")],
        )
    if sent.get("fiscal_year", allocation.fiscal_year) != allocation.fiscal_year and (
        await session.scalar(
            select(exists().where(col(Disbursement.allocation_id) == allocation.id))
        )
    ):
        # Payments carry periods inside the allocation's year; moving the year would strand them.
        raise Conflict(
            "The fiscal year cannot change once payments were made from the allocation.",
            code="fiscal_year_has_payments",
            errors=[FieldError("fiscal_year", "has_payments", "Payments exist in this year.")],
        )
    async with _unique_guard(session):
        await apply_update(
            session,
            caller,
            allocation,
            sent,
            snapshot=_snapshot,
            entity=ENTITY,
            region_of=lambda changed: changed.region_code,
        )
    return allocation
