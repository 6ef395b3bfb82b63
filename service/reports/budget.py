"""Budget realisation (realisasi) per allocation: the amount, what is committed to payments,
what the bank or post office confirmed as paid, what is left, and absorption (paid / amount)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller, within
from service.allocations.tables import Allocation
from service.disbursements.tables import Disbursement
from service.reports.envelope import Report, report_region


@dataclass(frozen=True)
class AllocationRealisation:
    allocation_id: uuid.UUID
    program_code: str
    fiscal_year: int
    funding_source: str
    region_code: str
    amount: int
    committed: int
    confirmed: int
    remaining: int
    absorption_pct: float | None  # confirmed / amount; None for an allocation of 0
    payments_confirmed: int


async def budget_realisation(
    session: AsyncSession,
    caller: Caller,
    *,
    region: str | None,
    program: str | None,
    fiscal_year: int | None,
) -> Report[AllocationRealisation]:
    covered = report_region(caller, region)
    confirmed_payments = (
        select(func.count())
        .where(col(Disbursement.allocation_id) == col(Allocation.id))
        .where(col(Disbursement.status) == "confirmed")
        .scalar_subquery()
    )
    query = select(Allocation, confirmed_payments).order_by(
        col(Allocation.fiscal_year), col(Allocation.region_code), col(Allocation.program_code)
    )
    if covered is not None:
        query = query.where(within(col(Allocation.region_code), covered))
    if program is not None:
        query = query.where(col(Allocation.program_code) == program.upper())
    if fiscal_year is not None:
        query = query.where(col(Allocation.fiscal_year) == fiscal_year)
    rows = [
        AllocationRealisation(
            allocation_id=allocation.id,
            program_code=allocation.program_code,
            fiscal_year=allocation.fiscal_year,
            funding_source=allocation.funding_source,
            region_code=allocation.region_code,
            amount=allocation.amount,
            committed=allocation.committed,
            confirmed=allocation.confirmed,
            remaining=allocation.amount - allocation.committed,
            absorption_pct=(
                round(100 * allocation.confirmed / allocation.amount, 1)
                if allocation.amount
                else None
            ),
            payments_confirmed=paid,
        )
        for allocation, paid in await session.execute(query)
    ]
    return Report(region_code=covered, rows=rows)
