from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import CallerDep, SessionDep, StandaloneCallerDep, etag, one_statement
from api.exports import PAGE_SIZE, ExportFormat, export_list, export_responses, table
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, idempotent_response
from api.problems import problem_responses
from api.rest.params import Cursor, Limit, UpdatedSince
from schemas.common import Page
from schemas.disbursements import (
    BatchResult,
    DisbursementBatch,
    DisbursementCreate,
    DisbursementOut,
    DisbursementStatus,
    ReconciliationResult,
    TransitionOut,
    TransitionRequest,
)
from schemas.filters import ExternalReferenceFilter, PeriodFilter, ProgramCodeFilter
from service.disbursements import operations, queries
from service.disbursements.queries import present_disbursement
from service.disbursements.reconciliation import MAX_BYTES
from service.errors import ContentTooLarge

router = APIRouter(
    prefix="/api/v1/disbursements",
    tags=["disbursements"],
    responses=problem_responses(401, 403, 422),
)

DisbursementId = Annotated[uuid.UUID, Path(description="The disbursement's id.")]
# The answers of the money moves besides their own: key problems and refusals.
MONEY_PROBLEMS = problem_responses(409, 428)


def disbursement_filters(
    allocation_id: Annotated[uuid.UUID | None, Query()] = None,
    program: Annotated[ProgramCodeFilter | None, Query(examples=["PKH"])] = None,
    status: Annotated[DisbursementStatus | None, Query()] = None,
    region: Annotated[
        str | None, Query(description="Region code prefix of the recipients' villages.")
    ] = None,
    recipient_id: Annotated[uuid.UUID | None, Query()] = None,
    period: Annotated[PeriodFilter | None, Query(examples=["2026-Q1"])] = None,
    external_reference: Annotated[ExternalReferenceFilter | None, Query()] = None,
    updated_since: UpdatedSince = None,
) -> queries.DisbursementFilters:
    return queries.DisbursementFilters(
        allocation_id=allocation_id,
        program=program,
        status=status.value if status else None,
        region=region,
        recipient_id=recipient_id,
        period=period,
        external_reference=external_reference,
        updated_since=updated_since,
    )


FiltersDep = Annotated[queries.DisbursementFilters, Depends(disbursement_filters)]
COLUMNS = table(DisbursementOut)


@router.get("", operation_id="listDisbursements", response_model=Page[DisbursementOut])
async def list_disbursements(
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DisbursementOut]:
    """Disbursements to recipients in the client's region, ordered by last change: a client
    that polls with `updated_since` and `next_cursor` sees every settlement. Needs
    `disbursements:read`."""
    page = await queries.list_disbursements(session, caller, filters, limit=limit, cursor=cursor)
    return Page[DisbursementOut](
        items=[present_disbursement(item) for item in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/export",
    operation_id="exportDisbursements",
    response_class=StreamingResponse,
    responses=export_responses("The disbursements, one line each."),
)
async def export_disbursements(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    file_format: ExportFormat = "csv",
) -> StreamingResponse:
    """The list's disbursements (same filters, same order) as a file, streamed: what a
    finance office reconciles in its spreadsheet. Needs `disbursements:read`."""
    return await export_list(
        request,
        session,
        file_format,
        "disbursements",
        COLUMNS,
        lambda session, cursor: queries.list_disbursements(
            session, caller, filters, limit=PAGE_SIZE, cursor=cursor
        ),
        present_disbursement,
    )


@router.post(
    "",
    operation_id="createDisbursement",
    status_code=status.HTTP_201_CREATED,
    response_model=DisbursementOut,
    responses={
        201: {"description": "Created", "headers": REPLAYED_RESPONSE_HEADER},
        **MONEY_PROBLEMS,
    },
)
async def create_disbursement(
    request: Request,
    caller: StandaloneCallerDep,
    body: DisbursementCreate,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Schedule a payment out of an allocation to a family (`kpm`) or a KUBE group (`kube`).
    Needs `disbursements:write` and an `Idempotency-Key` header. The answer is 201 with the
    disbursement in status `scheduled`; its amount is committed against the allocation at once.

    Refused, and nothing is written, when:
    - 422 `unknown_allocation` / `unknown_recipient`: no such allocation, or no live family or
      group with that id; `recipient_outside_allocation`: the recipient's village is outside the
      allocation's region; `period_outside_fiscal_year`: the period is in another year;
    - 403 `outside_region`: the allocation or the recipient lies outside the client's region
      (paying spends the allocation, so the client must be able to change it);
    - 409 `allocation_exhausted`: the amount is more than the allocation has left;
      `duplicate_disbursement`: the recipient already has a disbursement of this program for
      the period (failed and reversed ones do not count); `duplicate_external_reference`.
    """
    outcome = await operations.create_once(
        request.app.state.sessions, caller, idempotency_key, body, one_statement(request)
    )
    return idempotent_response(
        outcome, location=f"/api/v1/disbursements/{outcome.response.body['id']}"
    )


@router.post(
    "/batches",
    operation_id="createDisbursementBatch",
    response_model=BatchResult,
    responses={
        200: {"description": "Per-item results", "headers": REPLAYED_RESPONSE_HEADER},
        **MONEY_PROBLEMS,
    },
)
async def create_disbursement_batch(
    request: Request,
    caller: StandaloneCallerDep,
    body: DisbursementBatch,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Schedule up to 10,000 disbursements in one request (more: 422 naming `items`). Needs
    `disbursements:write` and an `Idempotency-Key` header.

    Each item is checked on its own, with the rules of `POST /api/v1/disbursements`, and either
    goes in or is refused without affecting the others; items draw on the budget in their
    order. The answer (200) has a result per item: its `index`, `status` (`created` or
    `refused`), the new `id`, or an `error` with `code`, `field` and `message`; and the totals.
    A malformed item is refused with its first problem (e.g. field `amount`, code
    `greater_than_equal`)."""
    outcome = await operations.create_batch_once(
        request.app.state.sessions, caller, idempotency_key, list(body.items)
    )
    return idempotent_response(outcome)


async def _read_upload(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise ContentTooLarge(
                f"Reconciliation files are limited to {MAX_BYTES // 1_000_000} MB."
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/reconciliations",
    operation_id="reconcileDisbursements",
    response_model=ReconciliationResult,
    responses={
        200: {"description": "What the file settled", "headers": REPLAYED_RESPONSE_HEADER},
        **MONEY_PROBLEMS,
        **problem_responses(413),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def reconcile_disbursements(
    request: Request, caller: StandaloneCallerDep, idempotency_key: IdempotencyKeyHeader = None
) -> JSONResponse:
    """Upload the bank's or the post office's settlement file as the request body (CSV, UTF-8,
    comma or semicolon separated, up to 20 MB) with the header `reference,status,amount,date`
    (`referensi`, `jumlah`/`nominal`, `tanggal` also accepted): `status` is `confirmed` or
    `failed`, `amount` whole rupiah, `date` `YYYY-MM-DD`. Needs `disbursements:write` and an
    `Idempotency-Key` header.

    A line settles its disbursement (found by `external_reference`) when the amount is the
    same and the move is allowed (`sent` → `confirmed` or `failed`); a failure frees the budget.
    Every other line changes nothing and is listed in `mismatches` with its line and code:
    `unknown_reference`, `amount_mismatch`, `invalid_transition`, `duplicate_line`,
    `outside_region`, or a malformed cell (`invalid_amount`, `invalid_status`, `invalid_date`,
    `invalid_reference`). A line whose disbursement already has that status counts as
    `unchanged`."""
    content = await _read_upload(request)
    outcome = await operations.reconcile_once(
        request.app.state.sessions, caller, idempotency_key, content
    )
    return idempotent_response(outcome)


@router.get(
    "/{disbursement_id:uuid}",
    operation_id="getDisbursement",
    response_model=DisbursementOut,
    responses=problem_responses(404),
)
async def get_disbursement(
    session: SessionDep, caller: CallerDep, disbursement_id: DisbursementId, response: Response
) -> DisbursementOut:
    """One disbursement. Needs `disbursements:read`; one outside the client's region answers
    404."""
    disbursement = await queries.get_disbursement(session, caller, disbursement_id)
    response.headers["ETag"] = etag(disbursement.version)
    return present_disbursement(disbursement)


@router.post(
    "/{disbursement_id}/transitions",
    operation_id="transitionDisbursement",
    response_model=DisbursementOut,
    responses={
        200: {"description": "The disbursement now", "headers": REPLAYED_RESPONSE_HEADER},
        **MONEY_PROBLEMS,
        **problem_responses(404),
    },
)
async def transition_disbursement(
    request: Request,
    caller: StandaloneCallerDep,
    disbursement_id: DisbursementId,
    body: TransitionRequest,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Move the disbursement to another status, with a note; every move is kept in its history.
    Allowed: `scheduled` → `sent`; `sent` → `confirmed` | `failed`; `confirmed` → `reversed`.
    Anything else is a 409 `invalid_transition`. `failed` and `reversed` free the amount in
    the allocation (and the recipient's period); `confirmed` counts it as paid.
    `external_reference` sets the bank's reference if there is none yet (409
    `duplicate_external_reference` when another disbursement has it). Needs
    `disbursements:write`, write access to the allocation's region, and an `Idempotency-Key`."""
    outcome = await operations.transition_once(
        request.app.state.sessions, caller, idempotency_key, disbursement_id, body
    )
    return idempotent_response(outcome)


@router.get(
    "/{disbursement_id}/transitions",
    operation_id="listDisbursementTransitions",
    response_model=list[TransitionOut],
    responses=problem_responses(404),
)
async def list_disbursement_transitions(
    session: SessionDep, caller: CallerDep, disbursement_id: DisbursementId
) -> list[TransitionOut]:
    """Every status the disbursement went through, oldest first, with who and when; the first
    entry is its creation."""
    transitions = await queries.list_transitions(session, caller, disbursement_id)
    return [TransitionOut.model_validate(item) for item in transitions]
