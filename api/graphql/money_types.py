"""GraphQL types of budget allocations and disbursements, built from the same wire shapes as
REST (``schemas.allocations``, ``schemas.disbursements``)."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.scalars import Rupiah
from schemas.allocations import AllocationOut
from schemas.disbursements import (
    BatchItemResult,
    BatchResult,
    DisbursementOut,
    Mismatch,
    ReconciliationResult,
    TransitionOut,
)
from service.disbursements.tables import DisbursementTransition as TransitionRow

GqlInfo = Info[GraphQLContext, None]


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


@strawberry.type(description="One status change of a disbursement; the first is its creation.")
class DisbursementTransition:
    from_status: str | None = strawberry.field(description="Empty for the creation.")
    to_status: str
    note: str | None
    external_reference: str | None
    on_date: dt.date | None = strawberry.field(
        description="The settlement date a reconciliation file gave."
    )
    at: dt.datetime
    actor: str = strawberry.field(description="The client that made the change.")
    by_client: uuid.UUID | None

    @staticmethod
    def from_record(row: TransitionRow) -> DisbursementTransition:
        out = TransitionOut.model_validate(row)
        return DisbursementTransition(
            from_status=out.from_status.value if out.from_status else None,
            to_status=out.to_status.value,
            note=out.note,
            external_reference=out.external_reference,
            on_date=out.on_date,
            at=out.at,
            actor=out.actor,
            by_client=out.by_client,
        )


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

    @strawberry.field(
        description="Every status the disbursement went through, oldest first, with who and "
        "when, as REST's GET .../transitions."
    )
    async def transitions(self, info: GqlInfo) -> list[DisbursementTransition]:
        rows = await info.context.loaders.disbursement_transitions.load(self.id)
        return [DisbursementTransition.from_record(row) for row in rows]

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


@strawberry.type(description="Why a batch item was refused: the REST problem's code and field.")
class BatchItemError:
    code: str
    field: str = strawberry.field(description="The item's offending field, e.g. `amount`.")
    message: str


@strawberry.type(description="One item of a batch: created (with its id) or refused.")
class DisbursementBatchItem:
    index: int = strawberry.field(description="Position of the item in `items`, from 0.")
    status: str = strawberry.field(description="created or refused.")
    id: uuid.UUID | None
    error: BatchItemError | None

    @staticmethod
    def from_out(out: BatchItemResult) -> DisbursementBatchItem:
        error = out.error
        return DisbursementBatchItem(
            index=out.index,
            status=out.status,
            id=out.id,
            error=BatchItemError(code=error.code, field=error.field, message=error.message)
            if error
            else None,
        )


@strawberry.type(description="A result per item of a batch, and the totals.")
class DisbursementBatchResult:
    received: int
    created: int
    refused: int
    amount_created: Rupiah
    items: list[DisbursementBatchItem]

    @staticmethod
    def from_out(out: BatchResult) -> DisbursementBatchResult:
        return DisbursementBatchResult(
            received=out.received,
            created=out.created,
            refused=out.refused,
            amount_created=Rupiah(out.amount_created),
            items=[DisbursementBatchItem.from_out(item) for item in out.items],
        )


@strawberry.type(description="A line of a settlement file that changed nothing, and why.")
class ReconciliationMismatch:
    line: int = strawberry.field(description="Line in the file; the header is line 1.")
    reference: str | None
    code: str
    message: str

    @staticmethod
    def from_out(out: Mismatch) -> ReconciliationMismatch:
        return ReconciliationMismatch(
            line=out.line, reference=out.reference, code=out.code, message=out.message
        )


@strawberry.type(name="ReconciliationResult", description="What a settlement file settled.")
class ReconciliationResultType:
    lines: int
    settled: int
    confirmed: int
    failed: int
    unchanged: int
    mismatched: int
    mismatches: list[ReconciliationMismatch]

    @staticmethod
    def from_out(out: ReconciliationResult) -> ReconciliationResultType:
        return ReconciliationResultType(
            lines=out.lines,
            settled=out.settled,
            confirmed=out.confirmed,
            failed=out.failed,
            unchanged=out.unchanged,
            mismatched=out.mismatched,
            mismatches=[ReconciliationMismatch.from_out(item) for item in out.mismatches],
        )


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
