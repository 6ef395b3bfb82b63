"""GraphQL types of budget allocations and disbursements, built from the same wire shapes as
REST (``schemas.allocations``, ``schemas.disbursements``)."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry

from api.graphql.scalars import Rupiah
from schemas.allocations import AllocationOut
from schemas.disbursements import DisbursementOut


@strawberry.type(description="A budget for one program, fiscal year and funding source.")
class Allocation:
    id: uuid.UUID
    program_code: str
    fiscal_year: int
    funding_source: str
    region_code: str
    amount: Rupiah
    committed: Rupiah
    confirmed: Rupiah
    remaining: Rupiah
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @staticmethod
    def from_out(out: AllocationOut) -> Allocation:
        return Allocation(
            id=out.id,
            program_code=out.program_code,
            fiscal_year=out.fiscal_year,
            funding_source=out.funding_source.value,
            region_code=out.region_code,
            amount=Rupiah(out.amount),
            committed=Rupiah(out.committed),
            confirmed=Rupiah(out.confirmed),
            remaining=Rupiah(out.remaining),
            created_at=out.created_at,
            updated_at=out.updated_at,
            version=out.version,
        )


@strawberry.type
class AllocationPage:
    items: list[Allocation]
    next_cursor: str | None


@strawberry.type(description="A payment out of an allocation to a family or a KUBE group.")
class Disbursement:
    id: uuid.UUID
    allocation_id: uuid.UUID
    program_code: str
    recipient_kind: str
    recipient_id: uuid.UUID
    region_code: str
    amount: Rupiah
    purpose: str
    channel: str
    period: str | None
    status: str
    external_reference: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @staticmethod
    def from_out(out: DisbursementOut) -> Disbursement:
        return Disbursement(
            id=out.id,
            allocation_id=out.allocation_id,
            program_code=out.program_code,
            recipient_kind=out.recipient_kind.value,
            recipient_id=out.recipient_id,
            region_code=out.region_code,
            amount=Rupiah(out.amount),
            purpose=out.purpose,
            channel=out.channel.value,
            period=out.period,
            status=out.status.value,
            external_reference=out.external_reference,
            created_at=out.created_at,
            updated_at=out.updated_at,
            version=out.version,
        )


@strawberry.type
class DisbursementPage:
    items: list[Disbursement]
    next_cursor: str | None


@strawberry.input
class AllocationCreateInput:
    program_code: str
    fiscal_year: int
    funding_source: str
    region_code: str
    amount: Rupiah


@strawberry.input(description="Only the fields sent are changed.")
class AllocationUpdateInput:
    amount: Rupiah | None = strawberry.UNSET
    fiscal_year: int | None = strawberry.UNSET
    funding_source: str | None = strawberry.UNSET


@strawberry.input
class AllocationFilterInput:
    program: str | None = None
    fiscal_year: int | None = None
    funding_source: str | None = None
    region: str | None = None
    updated_since: dt.datetime | None = None


@strawberry.input(
    description="`recipientKind` is kpm or kube; `channel` bank_transfer, pos, kks "
    "or cash; `period` YYYY, YYYY-Qn or YYYY-MM."
)
class DisbursementCreateInput:
    allocation_id: uuid.UUID
    recipient_kind: str
    recipient_id: uuid.UUID
    amount: Rupiah
    purpose: str
    channel: str
    period: str | None = None
    external_reference: str | None = None


@strawberry.input(description="`to`: sent, confirmed, failed or reversed.")
class TransitionInput:
    to: str
    note: str
    external_reference: str | None = None


@strawberry.input
class DisbursementFilterInput:
    allocation_id: uuid.UUID | None = None
    program: str | None = None
    status: str | None = None
    region: str | None = None
    recipient_id: uuid.UUID | None = None
    period: str | None = None
    external_reference: str | None = None
    updated_since: dt.datetime | None = None
