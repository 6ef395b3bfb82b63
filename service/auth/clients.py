"""Client management: creating clients, rotating their secrets, revoking them, and the operator
who does it at the command line (the list: ``service.auth.client_list``).

Kept apart from the token grant and check (``service.auth.service``), which need python-jose:
the command line manages clients without ever signing a token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller
from service.auth.scopes import ALL_SCOPES
from service.auth.secrets import hash_secret, new_secret
from service.auth.tables import ApiClient
from service.errors import FieldError, NotFound, ValidationFailed
from service.journal import record_write
from service.records import utcnow
from service.regions.codes import normalize_region_code
from service.regions.service import regions_exist


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


async def client_by_id(session: AsyncSession, client_id: str, *, lock: bool = False) -> ApiClient:
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
    client = await client_by_id(session, client_id, lock=True)
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
    client = await client_by_id(session, client_id, lock=True)
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
