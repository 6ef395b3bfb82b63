"""Clients and tokens: the OAuth2 client-credentials grant and the check behind every request."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller
from service.auth.scopes import ALL_SCOPES
from service.auth.secrets import hash_secret, new_secret, secret_matches
from service.auth.tables import ApiClient
from service.auth.tokens import TokenKeys, issue_token, read_token
from service.errors import FieldError, NotFound, Unauthorized, ValidationFailed
from service.journal import record_write
from service.records import utcnow
from service.regions.codes import normalize_region_code
from service.regions.service import regions_exist


@cache
def _unknown_client_hash() -> str:
    # Made on first use, not at import: an Argon2 hash is slow by design, and every command of
    # the command line imports this module.
    return hash_secret(new_secret())


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scopes: list[str]


@dataclass(frozen=True)
class ClientWithSecret:
    client: ApiClient
    secret: str  # shown once, never stored


def _check_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - ALL_SCOPES)
    if unknown:
        raise ValidationFailed(
            errors=[FieldError("scopes", "unknown_scope", f"Unknown scopes: {', '.join(unknown)}")]
        )
    return sorted(set(scopes))


async def create_client(
    session: AsyncSession,
    operator: Caller,
    *,
    name: str,
    scopes: list[str],
    region_code: str | None,
) -> ClientWithSecret:
    region = None
    if region_code:
        region = normalize_region_code(region_code, field="region")
        if not await regions_exist(session, {region}):
            raise ValidationFailed(
                errors=[FieldError("region", "unknown_region", "No region with that code.")]
            )
    secret = new_secret()
    client = ApiClient(
        name=name, region_code=region, scopes=_check_scopes(scopes), secret_hash=hash_secret(secret)
    )
    session.add(client)
    await session.flush()
    await record_write(
        session,
        operator,
        action="create",
        entity="api_client",
        record_id=client.id,
        region_code=region,
        version=client.version,
        publish=False,
        changes={"name": [None, name], "scopes": [None, client.scopes], "region": [None, region]},
    )
    return ClientWithSecret(client=client, secret=secret)


async def list_clients(session: AsyncSession) -> list[ApiClient]:
    return list(
        (await session.scalars(select(ApiClient).order_by(col(ApiClient.created_at)))).all()
    )


async def _client_by_id(session: AsyncSession, client_id: str, *, lock: bool = False) -> ApiClient:
    try:
        key = uuid.UUID(client_id)
    except ValueError:
        raise NotFound("No client with that id.", params={"entity": "client"}) from None
    query = select(ApiClient).where(col(ApiClient.id) == key)
    if lock:
        query = query.with_for_update()
    client = (await session.scalars(query)).one_or_none()
    if client is None:
        raise NotFound("No client with that id.", params={"entity": "client"})
    return client


async def rotate_secret(
    session: AsyncSession, operator: Caller, client_id: str
) -> ClientWithSecret:
    """A new secret; the old one and every token issued with it stop working at once."""
    client = await _client_by_id(session, client_id, lock=True)
    secret = new_secret()
    client.secret_hash = hash_secret(secret)
    client.secret_generation += 1
    client.touch()
    await record_write(
        session,
        operator,
        action="rotate_secret",
        entity="api_client",
        record_id=client.id,
        region_code=client.region_code,
        version=client.version,
        publish=False,
        changes={"secret": ["***", "***"]},
    )
    return ClientWithSecret(client=client, secret=secret)


async def revoke_client(session: AsyncSession, operator: Caller, client_id: str) -> ApiClient:
    """The client can no longer get tokens, and the tokens it holds stop working at once."""
    client = await _client_by_id(session, client_id, lock=True)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        client.touch()
        await record_write(
            session,
            operator,
            action="revoke",
            entity="api_client",
            record_id=client.id,
            region_code=client.region_code,
            version=client.version,
            publish=False,
            changes={"revoked_at": [None, client.revoked_at.isoformat()]},
        )
    return client


async def grant_token(
    session: AsyncSession,
    keys: TokenKeys,
    *,
    client_id: str,
    client_secret: str,
    requested_scopes: list[str],
    ttl_seconds: int,
) -> IssuedToken:
    """RFC 6749 section 4.4. The token carries the requested scopes (all of the client's when
    none are asked for); asking for a scope the client lacks is ``invalid_scope``."""
    failure = Unauthorized("Client authentication failed.", code="invalid_client")
    try:
        client: ApiClient | None = await _client_by_id(session, client_id)
    except NotFound:
        client = None
    # Argon2 is deliberately slow: keep it off the event loop, and spend the same time on an
    # unknown client id so response times do not reveal which ids exist.
    stored_hash = client.secret_hash if client is not None else None
    matches = await asyncio.to_thread(
        lambda: secret_matches(client_secret, stored_hash or _unknown_client_hash())
    )
    if client is None or client.revoked_at is not None or not matches:
        raise failure
    granted = requested_scopes or sorted(client.scopes)
    missing = sorted(set(granted) - set(client.scopes))
    if missing:
        raise ValidationFailed(
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
    session: AsyncSession, keys: TokenKeys, token: str, *, request_id: str | None
) -> Caller:
    """Check a bearer token against the client as it is now: revoked clients, rotated secrets,
    withdrawn scopes and moved regions all take effect on the very next request."""
    claims = read_token(keys, token)
    # On every request: a plain Core query on the session's connection, not an ORM load
    # (the ORM's identity bookkeeping was a quarter of a simple authenticated read).
    connection = await session.connection()
    client = (await connection.execute(_CLIENT_STATE, {"id": claims.client_id})).one_or_none()
    if (
        client is None
        or client.revoked_at is not None
        or client.secret_generation != claims.secret_generation
        or client.region_code != claims.region_code
    ):
        raise Unauthorized("The access token is no longer valid.", code="invalid_token")
    return Caller(
        client_id=claims.client_id,
        name=client.name,
        scopes=claims.scopes & frozenset(client.scopes),
        region_code=client.region_code,
        request_id=request_id,
    )


_client = ApiClient.__table__.c  # type: ignore[attr-defined]
_CLIENT_STATE = select(
    _client.name, _client.scopes, _client.region_code, _client.secret_generation,
    _client.revoked_at,
).where(_client.id == bindparam("id"))  # fmt: skip


def operator(request_id: str | None = None) -> Caller:
    """The operator at the command line: national, all scopes, audited as ``operator``."""
    return Caller(
        client_id=None,
        name="operator",
        scopes=ALL_SCOPES,
        region_code=None,
        request_id=request_id,
        is_operator=True,
    )
