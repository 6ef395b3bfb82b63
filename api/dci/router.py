"""The DCI Social Registry door (SPDCI Social Registry API 1.0.0), synchronous part: search and
transaction status answered in the response, and this registry's public signing key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from api.dci.transport import (
    DciCaller,
    DciRoute,
    envelope_response,
    error_responses,
    read_body,
    rejected,
)
from api.deps import one_statement
from service.access import Caller
from service.dci import sync
from service.dci.envelopes import callback_header, read_envelope
from service.dci.reasons import DciRejection
from service.records import utcnow

router = APIRouter(
    prefix="/dci",
    tags=["DCI Social Registry"],
    route_class=DciRoute,
    responses=error_responses(401, 403, 500),
)

SPEC = "the DCI Social Registry API 1.0.0 (`api/dci/spec/social_api_v1.0.0.yaml`)"


def _request_body(action: str, message: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": f"A DCI envelope; header.action `{action}`, message a "
                        f"{message} of {SPEC}.",
                        "properties": {
                            "signature": {"type": "string"},
                            "header": {"type": "object"},
                            "message": {"type": "object"},
                        },
                        "required": ["header", "message"],
                    }
                }
            },
        }
    }


def _answer_schema(action: str, message: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": f"A DCI envelope signed by this registry: header.action `{action}`, "
            f"status `succ` or `rjct` (with its reason code), message a {message}.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "signature": {"type": "string"},
                            "header": {"type": "object"},
                            "message": {"type": "object"},
                        },
                        "required": ["header"],
                    }
                }
            },
        }
    }


async def _answer(
    request: Request,
    caller: Caller,
    *,
    action: str,
    answer_action: str,
    run: Callable[..., Awaitable[sync.Answer]],
) -> Response:
    """Read the envelope, run the answer, sign it; a refusal answered the spec's way."""
    state = request.app.state
    settings = state.settings
    now = utcnow()
    body = await read_body(request)
    try:
        envelope = read_envelope(body, action=action, now=now, registry_id=settings.dci_registry_id)
        answer = await run(
            state.sessions, caller, envelope, settings=settings, now=now,
            statements=one_statement(request), keys=getattr(state, "dci_sender_keys", None),
        )  # fmt: skip
    except DciRejection as refusal:
        return rejected(request, body, refusal, action=answer_action)
    header = callback_header(
        envelope.header,
        action=answer_action,
        status=answer.status,
        registry_id=settings.dci_registry_id,
        total_count=answer.total_count,
        completed_count=answer.completed_count,
        reason_message=answer.reason_message,
    )
    return envelope_response(state.dci_signer, header, answer.message)


@router.post(
    "/registry/sync/search",
    operation_id="dciSyncSearch",
    response_class=Response,
    responses=_answer_schema("on-search", "SearchResponse"),
    openapi_extra=_request_body("search", "SearchRequest"),
)
async def sync_search(request: Request, caller: DciCaller) -> Response:
    """Search families (`Group`) or persons (`Member`) and get the records in the answer.

    Each `search_request` of the batch is answered by its `reference_id`: `succ` with a page of
    records (`pagination.page_size` up to 500, `page_number` from 1, `total_count`), or `rjct`
    with its reason (`rjct.search_criteria.invalid`, `rjct.sort.invalid`,
    `rjct.pagination.invalid`, ...). Queries: `idtype-value` (`NIK` or `KK`), `expression`
    (`$and $or $not $eq $ne $lt $lte $gt $gte $in` over `village_code`, `region`, `desil`,
    `verification_status`, `program`, `birth_date`, `sex`, `relationship`, ...) and
    `predicate`. Only records in the client's region are found; NIK and No KK are masked
    without `pii:read`. Needs `kpm:read`. A message_id the sender used before is refused
    (`rjct.message_id.duplicate`); a client with a registered key must sign its messages."""
    return await _answer(
        request, caller, action="search", answer_action="on-search", run=sync.search
    )


@router.post(
    "/registry/sync/txn/status",
    operation_id="dciSyncTxnStatus",
    response_class=Response,
    responses=_answer_schema("txn-on-status", "TxnStatusResponse"),
    openapi_extra=_request_body("txn-status", "TxnStatusRequest"),
)
async def sync_txn_status(request: Request, caller: DciCaller) -> Response:
    """The status of the client's earlier DCI transactions (`txn_type` `search` or
    `subscribe`), found by `transaction_id`, `correlation_id` or a `reference_id_list`: per
    request its status, and for a search the answer it was given. Needs `kpm:read`."""
    return await _answer(
        request, caller, action="txn-status", answer_action="txn-on-status", run=sync.txn_status
    )


@router.get("/.well-known/jwks.json", operation_id="dciJwks", response_class=Response)
async def jwks(request: Request) -> Response:
    """This registry's public key (JWKS, Ed25519), with which its answers, callbacks and
    notifications are signed (`signature` of each envelope). No token needed."""
    return Response(
        orjson.dumps(request.app.state.dci_signer.jwks()),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )
