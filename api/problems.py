"""Every error leaves the service as RFC 9457 problem+json: domain errors, FastAPI's validation
errors, unknown routes and unexpected failures alike. No stack trace, SQL or input value is ever
echoed, so no personal data can leak through an error."""

from __future__ import annotations

import logging
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.allow import allowed_methods
from api.deps import get_standalone_caller
from api.i18n import detail_for, field_message, title_for, wants_indonesian
from schemas.problems import Problem
from service.database import is_unstorable_value
from service.database_faults import DATABASE_FAULTS, is_database_unavailable
from service.errors import INVALID_FIELDS, BadRequest, DomainError, FieldError, TooManyRequests

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Its refusals carry RFC 6749's `error` member, which OAuth2 client libraries read.
TOKEN_PATH = "/oauth/token"
# Every operation under it needs a bearer token.
API_PREFIX = "/api/"


def problem_type(code: str) -> str:
    return f"urn:dinsos:problem:{code}"


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    detail: str,
    errors: list[FieldError] | None = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    indonesian = wants_indonesian(request.headers.get("accept-language"))
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title_for(status, indonesian),
        "status": status,
        "detail": detail_for(code, detail, params or {}, indonesian),
        "code": code,
        "request_id": correlation_id.get(),
        "errors": [
            {
                "field": error.field,
                "code": error.code,
                "message": field_message(error.code, error.message, indonesian),
            }
            for error in errors or []
        ],
    }
    if extra:
        body.update(extra)
    response_headers = {"Content-Language": "id" if indonesian else "en", **(headers or {})}
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=response_headers
    )


def _field_path(location: tuple[Any, ...]) -> str:
    # ("body", "members", 2, "nik") -> "members.2.nik"; ("query", "limit") -> "limit"
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    if isinstance(error, TooManyRequests):
        headers = {"Retry-After": str(error.retry_after)}
    extra = None
    if request.url.path == TOKEN_PATH:
        # OAuth2 client libraries read RFC 6749's "error" member from token responses.
        extra = {
            "error": error.code if error.status != 401 else "invalid_client",
            "error_description": error.detail,
        }
    return problem_response(
        request,
        status=error.status,
        code=error.code,
        detail=error.detail,
        errors=error.errors,
        params=error.params,
        headers=headers,
        extra=extra,
    )


async def _unreadable_body(request: Request, errors: list[FieldError]) -> JSONResponse:
    """FastAPI reads the body before it runs any dependency, authentication included: a body
    it cannot read would be refused before the caller is known, and a caller without a token
    would get a 400 or 422 where every other request of theirs gets a 401. Authenticate here
    first, then name the body."""
    if request.url.path.startswith(API_PREFIX):
        try:
            await get_standalone_caller(request, request.headers.get("authorization"))
        except DomainError as refusal:
            return await _domain_error(request, refusal)
    if request.url.path == TOKEN_PATH:
        return await _domain_error(
            request, BadRequest("The request body cannot be read; see errors.", errors=errors)
        )
    return problem_response(
        request, status=422, code="validation_failed", detail=INVALID_FIELDS, errors=errors
    )


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        FieldError(
            _field_path(tuple(item.get("loc", ()))),
            str(item.get("type", "invalid")),
            str(item.get("msg", "Invalid value.")),
        )
        for item in error.errors()
    ]
    if any(item.get("type") == "json_invalid" for item in error.errors()):
        # FastAPI names the character position (`body.10`); the field is the body itself.
        return await _unreadable_body(
            request, [FieldError("body", "json_invalid", "The body is not valid JSON.")]
        )
    if request.url.path == TOKEN_PATH:
        # RFC 6749 section 5.2: a missing or malformed parameter is 400 `invalid_request`.
        return await _domain_error(
            request, BadRequest("A parameter is missing or malformed; see errors.", errors=errors)
        )
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        detail=INVALID_FIELDS,
        errors=errors,
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "route_not_found", 405: "method_not_allowed", 413: "content_too_large"}.get(
        error.status_code, f"http_{error.status_code}"
    )
    if error.status_code == 400:
        # Nothing in this service raises a bare 400: it is FastAPI or Starlette failing to read
        # the body (bytes that are not UTF-8, a broken multipart form).
        not_utf8 = isinstance(error.__cause__ or error.__context__, UnicodeDecodeError)
        return await _unreadable_body(
            request,
            [
                FieldError("body", "invalid_encoding", "The body is not valid UTF-8.")
                if not_utf8
                else FieldError("body", "unreadable_body", "The body cannot be parsed.")
            ],
        )
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = allowed_methods(request.app, request.url.path)
    return problem_response(
        request,
        status=error.status_code,
        code=code,
        detail=str(error.detail),
        headers=headers,
    )


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    # Lost connections, a restarting or stalled server, a full pool, a statement over its
    # timeout: all worth a retry, and none a bug, so one line in the log and no traceback.
    log.warning("database unavailable: %s", type(error).__name__)
    return problem_response(
        request,
        status=503,
        code="database_unavailable",
        detail="The database is not reachable; try again shortly.",
        headers={"Retry-After": "5"},
    )


async def _unstorable_value(request: Request, error: Exception) -> JSONResponse:
    # PostgreSQL refused a value the validators let through (a date beyond its range, a NUL
    # character, a number too large): the client's input, so a 4xx, with nothing echoed.
    return problem_response(
        request,
        status=422,
        code="invalid_value",
        detail="A value in the request is out of range or has characters that cannot be stored.",
    )


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    # A connection the server dropped (a restart, a failover) surfaces as a plain DBAPIError
    # flagged as invalidated: worth a retry, like the errors above. Any other is a bug.
    assert isinstance(error, DBAPIError)
    if is_unstorable_value(error):
        return await _unstorable_value(request, error)
    return await _database_fault(request, error)


async def _database_fault(request: Request, error: Exception) -> JSONResponse:
    if is_database_unavailable(error):
        return await _database_unavailable(request, error)
    return await _unexpected_error(request, error)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    if is_database_unavailable(error):  # wrapped in an error of another kind on its way up
        return await _database_unavailable(request, error)
    # The traceback goes to the log (with the request id), never to the client.
    log.exception("unhandled error", exc_info=error)
    # Starlette runs this handler outside every middleware, so the request-id middleware never
    # sees this response: the header is set here, where the id is most needed.
    # The same goes for the security headers (api/security_headers.py).
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    request_id = correlation_id.get()
    if request_id:
        headers["X-Request-ID"] = request_id
    return problem_response(
        request,
        status=500,
        code="internal_error",
        detail="Something went wrong on our side; quote the request id to the operators.",
        headers=headers,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Each fault class by name: Starlette hands only these to the handlers inside the
    # middleware stack; the catch-all below runs outside it, and the server logs its error
    # again as "Exception in ASGI application".
    for fault in DATABASE_FAULTS:
        app.add_exception_handler(fault, _database_fault)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    return {
        status: {
            "model": Problem,
            "description": title_for(status, False),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }
