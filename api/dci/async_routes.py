"""The asynchronous DCI registry paths: acknowledged at once, answered by a callback to the
sender's ``header.sender_uri`` (``service.dci.asynchronous``). Errors in the spec's shapes
(``api.dci.transport``)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from api.dci.transport import DciCaller, DciRoute, error_responses, read_body
from service.dci.asynchronous import accept, actions
from service.records import utcnow

router = APIRouter(prefix="/dci", tags=["DCI Social Registry"], route_class=DciRoute)

# The spec's ``Response`` (components/responses/Response).
ACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The DCI spec's Response: the message acknowledged (`ACK`, and the callback "
    "follows) or not (`ERR`, with the error).",
    "properties": {
        "message": {
            "type": "object",
            "properties": {
                "ack_status": {"type": "string", "enum": ["ACK", "NACK", "ERR"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "error": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
                "correlation_id": {"type": "string", "maxLength": 99},
            },
            "required": ["ack_status", "timestamp", "correlation_id"],
        }
    },
}
ENVELOPE_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "A DCI envelope `{signature, header, message}` (DCI Social "
                "Registry 1.0.0); `header.sender_uri` is where the callback goes.",
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
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Acknowledged; the answer is POSTed to `header.sender_uri` later.",
        "content": {"application/json": {"schema": ACK_SCHEMA}},
    },
    **error_responses(401, 403, 500),
}


async def _accepted(request: Request, caller: Any, action: str) -> Response:
    state = request.app.state
    answer = await accept(
        state.sessions,
        caller,
        await read_body(request),
        actions(state.settings)[action],
        settings=state.settings,
        now=utcnow(),
        keys=getattr(state, "dci_sender_keys", None),
    )
    return Response(orjson.dumps(answer), media_type="application/json")


@router.post(
    "/registry/search",
    operation_id="dciSearch",
    response_class=Response,
    responses=RESPONSES,
    openapi_extra={"requestBody": ENVELOPE_BODY},
)
async def registry_search(request: Request, caller: DciCaller) -> Response:
    """The search of `registry/sync/search`, answered by callback: acknowledged at once with
    `ack_status: ACK` and our `correlation_id`, then the `on-search` message (the same
    `SearchResponse`, signed by this registry: verify it with `GET /dci/.well-known/jwks.json`)
    is POSTed to `header.sender_uri` (https, a public address), retried with backoff until your
    endpoint answers 2xx; callbacks to one address arrive in order. A message refused with a
    header reason (version, `message_ts`, a replayed `message_id`...) is acknowledged too and
    called back with `status: rjct` and the reason. `registry/txn/status` says `pdng` until the
    callback is delivered, then what it said. Needs `kpm:read`."""
    return await _accepted(request, caller, "search")


@router.post(
    "/registry/txn/status",
    operation_id="dciTxnStatus",
    response_class=Response,
    responses=RESPONSES,
    openapi_extra={"requestBody": ENVELOPE_BODY},
)
async def registry_txn_status(request: Request, caller: DciCaller) -> Response:
    """The status of your earlier transactions (by `transaction_id`, `correlation_id` or a list
    of `reference_id`s), as `registry/sync/txn/status` answers it, called back as
    `txn-on-status` to `header.sender_uri`. Needs `kpm:read`."""
    return await _accepted(request, caller, "txn-status")


@router.post(
    "/registry/subscribe",
    operation_id="dciSubscribe",
    response_class=Response,
    responses=RESPONSES,
    openapi_extra={"requestBody": ENVELOPE_BODY},
)
async def registry_subscribe(request: Request, caller: DciCaller) -> Response:
    """Subscribe to the changes of the families of your region that match a filter
    (`filter_type` `expression`, `predicate` or `idtype-value`, the search's language over
    family attributes: `village_code`, `region`, `desil`, `verification_status`, `program`,
    `no_kk`, `created_at`, `updated_at`). `reg_event_type` `REGISTER` (registrations and
    updates) or `NewHouseHoldMember` (members added); `notify_record_type` `Group` or `Member`.
    Acknowledged at once; the `on-subscribe` callback carries each subscription's `code`;
    `registry/notify` messages then go to `header.sender_uri`, signed, in order, retried.
    Needs `kpm:read` and `changes:read`."""
    return await _accepted(request, caller, "subscribe")


@router.post(
    "/registry/unsubscribe",
    operation_id="dciUnsubscribe",
    response_class=Response,
    responses=RESPONSES,
    openapi_extra={"requestBody": ENVELOPE_BODY},
)
async def registry_unsubscribe(request: Request, caller: DciCaller) -> Response:
    """End subscriptions by their `subscription_codes`: nothing more is notified (what was still
    waiting is dropped). Acknowledged at once; the `on-unsubscribe` callback lists each code
    with its status (`rjct.subscription_code.invalid` for a code that is not one of yours).
    Needs `kpm:read` and `changes:read`."""
    return await _accepted(request, caller, "unsubscribe")
