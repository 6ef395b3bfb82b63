"""Dependencies shared by the routers: the request's database session and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from asgi_correlation_id import correlation_id
from fastapi import Depends, Header, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from service.access import Caller
from service.auth.scopes import SCOPES
from service.auth.service import caller_from_token
from service.database import OneStatement, one_statement_connections
from service.errors import Unauthorized
from service.kpm.disclosures import IdentityConflict, keep_disclosures

# Marks a header FastAPI takes as optional (so that its absence reaches the service, which
# answers 428, a precondition, rather than 422) but that the caller must send: the OpenAPI
# document (api/openapi.py) says `required: true`, so a generated client asks for it.
REQUIRED_HEADER = "x-required-header"

oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token", scopes=SCOPES)
    ),
    scheme_name="OAuth2ClientCredentials",
    description="OAuth2 client credentials (RFC 6749 section 4.4). Clients are issued by the "
    "operators with `dinsos clients create`.",
    auto_error=False,
)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request: committed when the endpoint returns
    (before the response is sent, so a 2xx means the write is durable), rolled back on error."""
    state = request.app.state
    try:
        async with state.sessions() as session, session.begin():
            yield session
    except IdentityConflict as refusal:
        # Rolled back with the request; kept (or turned into a 429) in a transaction of its own.
        await keep_disclosures(state.sessions, state.rate_limits, refusal)
        raise


# scope="function": the commit runs before the response goes out, not after.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_caller(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Depends(oauth2_scheme)],
) -> Caller:
    return await _caller(request, session, authorization)


async def connection_caller(connection: HTTPConnection, authorization: str | None) -> Caller:
    """``get_standalone_caller`` for a connection that is no HTTP request (a WebSocket, whose
    token comes in its first message)."""
    return await _caller(connection, connection.app.state.sessions, authorization)


async def _caller(
    request: HTTPConnection,
    session: AsyncSession | Callable[[], AbstractAsyncContextManager[AsyncSession]],
    authorization: str | None,
) -> Caller:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send a bearer token from POST /oauth/token.", code="unauthorized")
    state = request.app.state
    caller = await caller_from_token(
        session,
        state.token_keys,
        token.strip(),
        request_id=correlation_id.get(),
        # Set at start-up (``api.app``): the clients this process remembers, kept true by
        # notifications. Absent (tests without the lifespan), every request reads the row.
        clients=getattr(state, "client_states", None),
        tokens=state.token_cache,
    )
    # In memory by default: a few microseconds, no database round trip.
    await state.rate_limits.hit_api(str(caller.client_id))
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "7"`` -> 7. A value that is no version of ours can never match: -1."""
    if value is None:
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    return int(tag) if tag.isascii() and tag.isdigit() and len(tag) <= 18 else -1


# Required in the OpenAPI document, yet optional to FastAPI: a change without it is refused by
# the service with 428 `if_match_required` (a precondition, RFC 6585), not with a 422.
IfMatch = Annotated[
    str | None,
    Header(
        description='The `ETag` of the version you read, e.g. `"3"`. Without it: 428 '
        "`if_match_required`.",
        json_schema_extra={REQUIRED_HEADER: True},
    ),
]
OptionalIfMatch = Annotated[
    str | None,
    Header(
        description='The `ETag` of the version you read, e.g. `"3"`. Optional here: when sent, '
        "a stale version answers 412.",
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


async def get_standalone_caller(
    request: Request, authorization: Annotated[str | None, Depends(oauth2_scheme)]
) -> Caller:
    """The caller, checked without the request's session (in a short transaction of its own
    when the client's row must be read): for endpoints that run their own transactions (the
    money moves), so that a request never holds one pooled connection while waiting for
    another, which under load would exhaust the pool; and for reads of one statement, which
    need no transaction at all."""
    return await _caller(request, request.app.state.sessions, authorization)


async def standalone_caller_of(request: Request) -> Caller:
    """``get_standalone_caller`` for the hot routes (``api.hot_routes``), which FastAPI does
    not resolve: the token from the header, as ``oauth2_scheme`` takes it."""
    return await _caller(request, request.app.state.sessions, request.headers.get("authorization"))


StandaloneCallerDep = Annotated[Caller, Depends(get_standalone_caller)]


def one_statement(request: HTTPConnection) -> OneStatement:
    """Connections for reads of one statement (no transaction), from the engine's pool; made
    on first use (tests set their own, in the test's transaction)."""
    state = request.app.state
    statements: OneStatement | None = getattr(state, "statements", None)
    if statements is None:
        statements = state.statements = one_statement_connections(state.engine)
    return statements
