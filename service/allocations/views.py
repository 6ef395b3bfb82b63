"""An allocation as the REST read shows it: one presenter for the read, the list, GraphQL and
the change events of its running sums."""

from __future__ import annotations

from schemas.allocations import AllocationOut, FundingSource
from service.allocations.tables import Allocation


def present_allocation(allocation: Allocation) -> AllocationOut:
    return AllocationOut(
        id=allocation.id,
        created_at=allocation.created_at,
        updated_at=allocation.updated_at,
        version=allocation.version,
        program_code=allocation.program_code,
        fiscal_year=allocation.fiscal_year,
        funding_source=FundingSource(allocation.funding_source),
        region_code=allocation.region_code,
        amount=allocation.amount,
        committed=allocation.committed,
        confirmed=allocation.confirmed,
        remaining=allocation.amount - allocation.committed,
    )
