"""Tokens: the OAuth2 client-credentials grant and the check behind every request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access import Caller
from service.auth.client_states import ClientState, ClientStates
from service.auth.clients import client_by_id
from service.auth.secrets import secret_matches
from service.auth.tables import ApiClient
from service.auth.token_cache import TokenCache
from service.auth.tokens import TokenKeys, issue_token, read_token
from service.errors import BadRequest, FieldError, NotFound, Unauthorized
from service.rate_limits import RateLimits


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scopes: list[str]


async def grant_token(
    session: AsyncSession,
    keys: TokenKeys,
    *,
    client_id: str,
    client_secret: str,
    requested_scopes: list[str],
    ttl_seconds: int,
    rate_limits: RateLimits | None = None,
) -> IssuedToken:
    """RFC 6749 section 4.4. The token carries the requested scopes (all of the client's when
    none are asked for); asking for a scope the client lacks is ``invalid_scope``.

    Every attempt on a client that exists counts against that client's rate (``rate_limits``),
    the right secret too, before the secret is checked: a guesser cannot tell a refused guess
    from a right one once limited, and spends no hash beyond the rate."""
    failure = Unauthorized("Client authentication failed.", code="invalid_client")
    try:
        client: ApiClient | None = await client_by_id(session, client_id)
    except NotFound:
        client = None
    # An unknown or revoked id is refused without hashing anything: Argon2 costs the server
    # CPU on purpose, and only a valid client id may make it pay. This lets response times
    # tell an existing id from an unknown one; ids are random UUIDs (122 bits), not secrets,
    # and guessing them is bounded by the per-address rate, while a dummy hash per unknown id
    # handed every address a cheap way to exhaust the CPU.
    if client is None or client.revoked_at is not None:
        raise failure
    if rate_limits is not None:
        await rate_limits.hit_token_client(str(client.id))
    stored_hash = client.secret_hash
    # Deliberately slow: kept off the event loop.
    if not await asyncio.to_thread(secret_matches, client_secret, stored_hash):
        raise failure
    granted = requested_scopes or sorted(client.scopes)
    missing = sorted(set(granted) - set(client.scopes))
    if missing:
        raise BadRequest(
            f"The client may not request: {', '.join(missing)}.",
            code="invalid_scope",
            errors=[FieldError("scope", "invalid_scope", "Scope not granted to this client.")],
        )
    token = issue_token(
        keys,
        client_id=client.id,
        scopes=granted,
        region_code=client.region_code,
        secret_generation=client.secret_generation,
        ttl_seconds=ttl_seconds,
    )
    return IssuedToken(access_token=token, expires_in=ttl_seconds, scopes=granted)


async def caller_from_token(
    session: AsyncSession | Callable[[], AbstractAsyncContextManager[AsyncSession]],
    keys: TokenKeys,
    token: str,
    *,
    request_id: str | None,
    clients: ClientStates | None = None,
    tokens: TokenCache | None = None,
) -> Caller:
    """Check a bearer token against the client as it is now: revoked clients, rotated secrets,
    withdrawn scopes and moved regions all take effect on the very next request.

    With ``clients`` listening, the client's state comes from memory (kept true by
    notifications) and no statement is run; otherwise its row is read, in ``session`` (a
    session, or a factory of short ones: a session is opened only if the row must be read).
    ``tokens`` remembers tokens already verified, until they expire."""
    claims = tokens.get(token, keys) if tokens is not None else None
    if claims is None:
        claims = read_token(keys, token)
        if tokens is not None:
            tokens.put(token, claims)
    state = clients.recall(claims.client_id) if clients is not None else None
    if state is None:
        epoch = clients.epoch if clients is not None else 0
        if isinstance(session, AsyncSession):
            state = await _client_state(session, claims.client_id)
        else:
            state = await _client_state_apart(session, claims.client_id)
        if state is not None and clients is not None:
            clients.remember(claims.client_id, state, epoch)
    if (
        state is None
        or state.revoked
        or state.secret_generation != claims.secret_generation
        or state.region_code != claims.region_code
    ):
        raise Unauthorized("The access token is no longer valid.", code="invalid_token")
    return Caller(
        client_id=claims.client_id,
        name=state.name,
        scopes=claims.scopes & state.scopes,
        region_code=state.region_code,
        request_id=request_id,
    )


async def _client_state_apart(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]], client_id: uuid.UUID
) -> ClientState | None:
    """``_client_state`` in a short transaction of its own."""
    async with sessions() as session, session.begin():
        return await _client_state(session, client_id)


async def _client_state(session: AsyncSession, client_id: uuid.UUID) -> ClientState | None:
    # A plain Core query on the session's connection, not an ORM load (the ORM's identity
    # bookkeeping was a quarter of a simple authenticated read).
    connection = await session.connection()
    row = (await connection.execute(_CLIENT_STATE, {"id": client_id})).one_or_none()
    if row is None:
        return None
    return ClientState(
        name=row.name,
        scopes=frozenset(row.scopes),
        region_code=row.region_code,
        secret_generation=row.secret_generation,
        revoked=row.revoked_at is not None,
    )


_client = ApiClient.__table__.c  # type: ignore[attr-defined]
_CLIENT_STATE = select(
    _client.name, _client.scopes, _client.region_code, _client.secret_generation,
    _client.revoked_at,
).where(_client.id == bindparam("id"))  # fmt: skip
