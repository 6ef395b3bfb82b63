"""The public keys clients sign their DCI messages with: registered, listed and revoked by
operators (``dinsos clients dci-key``), and the rule of who must sign."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller
from service.auth.client_states import ClientStates
from service.auth.clients import client_by_id
from service.database import OneStatement
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


class SenderKeyCache:
    """The keys of each client this process has checked a message of, remembered on the terms
    of ``ClientStates`` (only while it listens; forgotten with the client, which a key's
    change notifies: migration 0012), so that a message needs no read of its client's keys."""

    CAPACITY = 10_000

    def __init__(self, states: ClientStates) -> None:
        self._states = states
        self._keys: dict[uuid.UUID, tuple[SenderKey, ...]] = {}
        states.on_forget(self._forget)

    @property
    def epoch(self) -> int:
        """Take it before reading keys; hand it to ``remember`` with them."""
        return self._states.epoch

    def recall(self, client_id: uuid.UUID) -> tuple[SenderKey, ...] | None:
        return self._keys.get(client_id) if self._states.listening else None

    def remember(self, client_id: uuid.UUID, keys: Sequence[SenderKey], epoch: int) -> None:
        if not self._states.listening or epoch != self._states.epoch:
            return
        if len(self._keys) >= self.CAPACITY:
            self._keys.pop(next(iter(self._keys)))
        self._keys[client_id] = tuple(keys)

    def _forget(self, client_id: uuid.UUID | None) -> None:
        if client_id is None:
            self._keys.clear()
        else:
            self._keys.pop(client_id, None)


_KEYS_SQL = (
    "SELECT id, client_id, key_id, algorithm, public_jwk::text AS public_jwk, created_at, "
    "revoked_at FROM dci_sender_key WHERE client_id = $1 AND revoked_at IS NULL"
)


async def active_keys(
    read: OneStatement | AsyncSession, caller: Caller, cache: SenderKeyCache | None
) -> tuple[SenderKey, ...]:
    """The caller's keys that are not revoked: remembered, or read (in ``read``'s session, or
    as one statement of its own)."""
    if caller.client_id is None:
        return ()
    remembered = cache.recall(caller.client_id) if cache is not None else None
    if remembered is not None:
        return remembered
    epoch = cache.epoch if cache is not None else 0
    if isinstance(read, AsyncSession):
        keys = tuple(
            await read.scalars(
                select(SenderKey).where(
                    col(SenderKey.client_id) == caller.client_id,
                    col(SenderKey.revoked_at).is_(None),
                )
            )
        )
    else:
        async with read() as connection:
            rows = await connection.fetch(_KEYS_SQL, caller.client_id)
        keys = tuple(
            SenderKey(**{**dict(row), "public_jwk": json.loads(row["public_jwk"])}) for row in rows
        )
    if cache is not None:
        cache.remember(caller.client_id, keys, epoch)
    return keys


def check_signature_with(
    keys: Sequence[SenderKey],
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


async def check_signature(
    session: AsyncSession,
    caller: Caller,
    envelope: RequestEnvelope,
    *,
    required: bool,
    max_age_seconds: int,
    now: dt.datetime,
    cache: SenderKeyCache | None = None,
) -> None:
    """``check_signature_with`` the caller's keys, read in ``session`` (or remembered)."""
    keys = await active_keys(session, caller, cache)
    check_signature_with(
        keys, envelope, required=required, max_age_seconds=max_age_seconds, now=now
    )
