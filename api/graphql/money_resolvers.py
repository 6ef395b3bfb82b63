"""Resolvers of the money fields, allocations and disbursements: parse, call the same service
functions as REST, render. The disbursement mutations run at most once per idempotency key, in
transactions of their own (``info.context.sessions``), as REST's do."""

from __future__ import annotations

import uuid

from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.types import Info

from api.deps import one_statement
from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments, sent_fields
from api.graphql.money_types import (
    Allocation,
    AllocationCreateInput,
    AllocationFilterInput,
    AllocationPage,
    AllocationUpdateInput,
    Disbursement,
    DisbursementBatchResult,
    DisbursementCreateInput,
    DisbursementFilterInput,
    DisbursementPage,
    ReconciliationResultType,
    TransitionInput,
)
from schemas.allocations import AllocationCreate, AllocationUpdate
from schemas.disbursements import (
    BatchResult,
    DisbursementBatch,
    DisbursementCreate,
    DisbursementOut,
    ReconciliationResult,
    TransitionRequest,
)
from schemas.filters import AllocationListArguments, DisbursementListArguments
from service.allocations import service as allocations
from service.allocations.views import present_allocation
from service.disbursements import operations as money
from service.disbursements import queries as disbursements
from service.disbursements.queries import present_disbursement
from service.disbursements.reconciliation import MAX_BYTES
from service.errors import ContentTooLarge, ErrorList

GqlInfo = Info[GraphQLContext, None]


async def allocation(info: GqlInfo, id: uuid.UUID) -> Allocation:
    record = await allocations.get_allocation(info.context.session, info.context.caller, id)
    return Allocation.from_out(present_allocation(record))


async def allocations_list(
    info: GqlInfo,
    filter: AllocationFilterInput | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AllocationPage:
    check_list_arguments(AllocationListArguments, filter, cursor=cursor)
    filters = allocations.AllocationFilters(**vars(filter)) if filter else None
    page = await allocations.list_allocations(
        info.context.session,
        info.context.caller,
        filters or allocations.AllocationFilters(),
        limit=limit,
        cursor=cursor,
    )
    return AllocationPage(
        items=[Allocation.from_out(present_allocation(item)) for item in page.items],
        next_cursor=page.next_cursor,
    )


async def disbursement(info: GqlInfo, id: uuid.UUID) -> Disbursement:
    record = await disbursements.get_disbursement(info.context.session, info.context.caller, id)
    return Disbursement.from_out(present_disbursement(record))


async def disbursements_list(
    info: GqlInfo,
    filter: DisbursementFilterInput | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> DisbursementPage:
    check_list_arguments(DisbursementListArguments, filter, cursor=cursor)
    filters = disbursements.DisbursementFilters(**vars(filter)) if filter else None
    page = await disbursements.list_disbursements(
        info.context.session,
        info.context.caller,
        filters or disbursements.DisbursementFilters(),
        limit=limit,
        cursor=cursor,
    )
    return DisbursementPage(
        items=[Disbursement.from_out(present_disbursement(item)) for item in page.items],
        next_cursor=page.next_cursor,
    )


async def create_allocation(info: GqlInfo, input: AllocationCreateInput) -> Allocation:
    body = AllocationCreate.model_validate(vars(input))
    record = await allocations.create_allocation(info.context.session, info.context.caller, body)
    return Allocation.from_out(present_allocation(record))


async def update_allocation(
    info: GqlInfo, id: uuid.UUID, expected_version: int, input: AllocationUpdateInput
) -> Allocation:
    body = AllocationUpdate.model_validate(sent_fields(input))
    record = await allocations.update_allocation(
        info.context.session, info.context.caller, id, body, if_match=expected_version
    )
    return Allocation.from_out(present_allocation(record))


async def create_disbursement(
    info: GqlInfo, idempotency_key: str, input: DisbursementCreateInput
) -> Disbursement:
    body = DisbursementCreate.model_validate(vars(input))
    outcome = await money.create_once(
        info.context.sessions,
        info.context.caller,
        idempotency_key,
        body,
        # REST's two statements when there is a request to take a pooled connection from.
        one_statement(info.context.request) if info.context.request is not None else None,
    )
    return Disbursement.from_out(DisbursementOut.model_validate(outcome.response.body))


async def transition_disbursement(
    info: GqlInfo, idempotency_key: str, id: uuid.UUID, input: TransitionInput
) -> Disbursement:
    body = TransitionRequest.model_validate(vars(input))
    outcome = await money.transition_once(
        info.context.sessions, info.context.caller, idempotency_key, id, body
    )
    return Disbursement.from_out(DisbursementOut.model_validate(outcome.response.body))


def _batch_item(item: DisbursementCreateInput) -> dict[str, object]:
    """An item as REST's JSON body carries it (ids as text, optional fields left out when not
    sent), so the service checks it the same way and a retry through either door with the same
    Idempotency-Key is recognised."""
    return {
        name: str(value) if isinstance(value, uuid.UUID) else value
        for name, value in vars(item).items()
        if value is not None
    }


async def create_disbursement_batch(
    info: GqlInfo, idempotency_key: str, items: list[DisbursementCreateInput]
) -> DisbursementBatchResult:
    # The batch's own bounds (1 to 10,000 items) are REST's: refused whole, naming `items`.
    outcome = await money.create_batch_once(
        info.context.sessions,
        info.context.caller,
        idempotency_key,
        list(DisbursementBatch.model_validate({"items": [_batch_item(i) for i in items]}).items),
    )
    return DisbursementBatchResult.from_out(BatchResult.model_validate(outcome.response.body))


# Read in pieces, so a file past the limit is refused without holding more than the limit.
_CHUNK = 1 << 20


async def _read_upload(file: object) -> bytes:
    if not isinstance(file, UploadFile):
        errors = ErrorList()
        errors.add("file", "file_required", "Send the file as a multipart upload.")
        errors.raise_if_any()
    assert isinstance(file, UploadFile)
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > MAX_BYTES:
            raise ContentTooLarge(
                f"Reconciliation files are limited to {MAX_BYTES // 1_000_000} MB."
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def reconcile_disbursements(
    info: GqlInfo, idempotency_key: str, file: Upload
) -> ReconciliationResultType:
    content = await _read_upload(file)
    outcome = await money.reconcile_once(
        info.context.sessions, info.context.caller, idempotency_key, content
    )
    return ReconciliationResultType.from_out(
        ReconciliationResult.model_validate(outcome.response.body)
    )
