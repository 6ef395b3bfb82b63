"""What every DCI route shares (the synchronous ones here, the asynchronous ones in
``async_routes``): errors in the spec's shapes, never problem+json; the caller from the same
bearer tokens as REST; the request body read as JSON whatever it holds; answers signed by this
registry.

The spec answers a registry path with a message (``default``: an envelope, even for a refused
message: ``header.status`` "rjct") and keeps HTTP errors for 401, 403 and 500, as
``HttpErrorResponse`` ``{"errors": [{"code", "message"}]}``. ``DciRoute`` renders those: a
``DciRejection`` with an ``err.*`` code, and the domain errors of the layers below
(authentication, scope, rate) mapped to the spec's ``err.*`` codes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from api.deps import get_standalone_caller
from service.access import Caller
from service.database_faults import is_database_unavailable
from service.dci import reasons
from service.dci.envelopes import callback_header
from service.dci.reasons import DciRejection
from service.dci.signatures import ServiceSigner, signed_envelope
from service.errors import DomainError, Forbidden, TooManyRequests, Unauthorized

log = logging.getLogger(__name__)

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "HTTP transport layer error details (the DCI spec's HttpErrorResponse).",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        }
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "No valid bearer token (`err.request.unauthorized`), or a signature missing or "
        "invalid (`err.signature.missing`, `err.signature.invalid`).",
        403: "The client lacks the scope (`err.request.forbidden`), is over its rate "
        "(`err.request.too_many_requests`, with Retry-After) or sends as a sender id it has not "
        "registered (`err.sender_id.invalid`); or the message is for another registry "
        "(`err.receiver_id.invalid`), encrypted (`err.encryption.invalid`) or nested too deep "
        "(`err.request.bad`).",
        500: "The service is unavailable (`err.service.unavailable`, with Retry-After) or an "
        "error on our side; quote the X-Request-ID to the operators.",
    }
    return {
        status: {
            "description": descriptions[status],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for status in statuses
    }


def error_response(status: int, code: str, message: str, **headers: str) -> Response:
    body = {"errors": [{"code": code, "message": message[:999]}]}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers or None)  # fmt: skip


def _as_error(error: Exception) -> Response | None:
    if isinstance(error, DciRejection) and error.is_error:
        return error_response(error.http_status, error.code, error.message)
    if isinstance(error, Unauthorized):
        return error_response(401, reasons.REQUEST_UNAUTHORIZED, str(error))
    if isinstance(error, Forbidden):
        return error_response(403, reasons.REQUEST_FORBIDDEN, str(error))
    if isinstance(error, TooManyRequests):
        # The spec's paths answer 401, 403 and 500 only: a rate limit is its 403
        # ``err.request.too_many_requests`` (with Retry-After all the same).
        return error_response(
            403, reasons.TOO_MANY_REQUESTS, str(error), **{"Retry-After": str(error.retry_after)}
        )
    if isinstance(error, DomainError):
        # Below the door, a domain error is about the request (a record missing, a conflict,
        # bad input): the spec's ``err.request.bad`` / ``not_found``, as a 403.
        code = reasons.REQUEST_NOT_FOUND if error.status == 404 else reasons.REQUEST_BAD
        return error_response(403, code, str(error))
    return None


class DciRoute(APIRoute):
    """A route whose errors leave in the DCI spec's shapes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                response = _as_error(error)
                if response is not None:
                    return response
                if is_database_unavailable(error):
                    return error_response(
                        500, reasons.SERVICE_UNAVAILABLE, "Try again in a moment.",
                        **{"Retry-After": "1"},
                    )  # fmt: skip
                log.exception("unhandled error in a DCI route", exc_info=error)
                return error_response(
                    500, reasons.SERVICE_UNAVAILABLE, "Something went wrong on our side; quote the "
                    "X-Request-ID to the operators.",
                )  # fmt: skip

        return handle


# The same bearer tokens as REST, checked without holding a session: the DCI answers run their
# own transaction (``service.dci.sync``).
DciCaller = Annotated[Caller, Depends(get_standalone_caller)]


async def read_body(request: Request) -> Any:
    """The body as JSON, or ``None`` when it is not JSON (refused as no envelope)."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None


def envelope_response(
    signer: ServiceSigner, header: dict[str, Any], message: dict[str, Any] | None
) -> Response:
    return Response(
        orjson.dumps(signed_envelope(signer, header, message)), media_type="application/json"
    )


def rejected(request: Request, body: Any, refusal: DciRejection, *, action: str) -> Response:
    """A refused message, answered the spec's way: an envelope whose header says ``rjct`` with
    the reason (HTTP 200); ``err.*`` codes go out as HTTP errors (``DciRoute``)."""
    if refusal.is_error:
        raise refusal
    request_header = body.get("header") if isinstance(body, Mapping) else None
    header_in = request_header if isinstance(request_header, Mapping) else None
    total = header_in.get("total_count") if header_in else None
    header = callback_header(
        header_in,
        action=action,
        status="rjct",
        registry_id=request.app.state.settings.dci_registry_id,
        total_count=total if isinstance(total, int) and not isinstance(total, bool) else 0,
        completed_count=0,
        reason_code=refusal.code or None,
        reason_message=refusal.message,
    )
    return envelope_response(request.app.state.dci_signer, header, None)
