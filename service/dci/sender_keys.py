"""The public keys clients sign their DCI messages with: registered, listed and revoked by
operators (``dinsos clients dci-key``), and the rule of who must sign."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller
from service.auth.clients import client_by_id
from service.dci.envelopes import RequestEnvelope
from service.dci.signatures import public_jwk, public_key_from_jwk, verify_signature
from service.dci.tables import SenderKey
from service.errors import Conflict, FieldError, NotFound, ValidationFailed
from service.journal import record_write
from service.records import utcnow

ENTITY = "dci_sender_key"


async def add_key(
    session: AsyncSession, operator: Caller, client_id: str, *, key_id: str, jwk: Mapping[str, Any]
) -> SenderKey:
    """Register ``jwk`` (a public OKP/Ed25519 or EC/P-256 JWK) as ``key_id`` of the client:
    from now on the client's DCI messages must be signed."""
    client = await client_by_id(session, client_id)
    if not key_id.strip() or len(key_id) > 99 or "|" in key_id:
        raise ValidationFailed(
            errors=[FieldError("key_id", "invalid_value", "1 to 99 characters, no '|'.")]
        )
    try:
        algorithm, public = public_key_from_jwk(jwk)
    except ValueError as error:
        raise ValidationFailed(errors=[FieldError("jwk", "invalid_key", str(error))]) from None
    key = SenderKey(
        client_id=client.id, key_id=key_id, algorithm=algorithm, public_jwk=public_jwk(public)
    )
    try:
        async with session.begin_nested():
            session.add(key)
            await session.flush()
    except IntegrityError:
        raise Conflict("The client has a key with that id.", code="duplicate_key_id") from None
    await record_write(
        session,
        operator,
        action="create",
        entity=ENTITY,
        record_id=key.id,
        region_code=client.region_code,
        version=None,
        publish=False,
        changes={"client_id": [None, str(client.id)], "key_id": [None, key_id]},
    )
    return key


async def list_keys(session: AsyncSession, client_id: str) -> list[SenderKey]:
    client = await client_by_id(session, client_id)
    return list(
        await session.scalars(
            select(SenderKey)
            .where(col(SenderKey.client_id) == client.id)
            .order_by(col(SenderKey.created_at))
        )
    )


async def revoke_key(
    session: AsyncSession, operator: Caller, client_id: str, key_id: str
) -> SenderKey:
    client = await client_by_id(session, client_id)
    key = await session.scalar(
        select(SenderKey)
        .where(col(SenderKey.client_id) == client.id, col(SenderKey.key_id) == key_id)
        .with_for_update()
    )
    if key is None:
        raise NotFound("The client has no key with that id.", params={"entity": "key"})
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await record_write(
            session,
            operator,
            action="revoke",
            entity=ENTITY,
            record_id=key.id,
            region_code=client.region_code,
            version=None,
            publish=False,
            changes={"revoked_at": [None, key.revoked_at.isoformat()]},
        )
    return key


async def check_signature(
    session: AsyncSession,
    caller: Caller,
    envelope: RequestEnvelope,
    *,
    required: bool,
    max_age_seconds: int,
    now: dt.datetime,
) -> None:
    """A client with a registered key (not revoked) must sign every message, and so must every
    client when ``required``; an unsigned or badly signed message is refused. A client with no
    key whose signatures are not required may send one: nothing can check it, so it is
    ignored."""
    keys = list(
        await session.scalars(
            select(SenderKey).where(
                col(SenderKey.client_id) == caller.client_id, col(SenderKey.revoked_at).is_(None)
            )
        )
    )
    if not keys and not required:
        return
    verify_signature(
        envelope.signature,
        envelope.header,
        envelope.message,
        keys,
        now=now,
        max_age_seconds=max_age_seconds,
    )
