"""The public keys clients sign their DCI messages with: registered, listed and revoked by
operators (``dinsos clients dci-key``), and the rule of who must sign; the sender ids a client
may send as (``dinsos clients dci-sender``), and the rule that binds them."""

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
from service.dci import reasons
from service.dci.envelopes import RequestEnvelope
from service.dci.reasons import DciRejection
from service.dci.signatures import public_jwk, public_key_from_jwk, verify_signature
from service.dci.tables import SenderId, SenderKey
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


async def add_sender(
    session: AsyncSession, operator: Caller, client_id: str, sender_id: str
) -> SenderId:
    """Let the client send as ``sender_id``: from now on it may send as its registered sender
    ids only (``err.sender_id.invalid`` for any other)."""
    client = await client_by_id(session, client_id)
    if not sender_id.strip() or len(sender_id) > 99 or "|" in sender_id:
        raise ValidationFailed(
            errors=[FieldError("sender_id", "invalid_value", "1 to 99 characters, no '|'.")]
        )
    sender = SenderId(client_id=client.id, sender_id=sender_id)
    try:
        async with session.begin_nested():
            session.add(sender)
            await session.flush()
    except IntegrityError:
        raise Conflict("The client has that sender id.", code="duplicate_sender_id") from None
    await _journal_sender(session, operator, client.region_code, sender, "create")
    return sender


async def list_senders(session: AsyncSession, client_id: str) -> list[SenderId]:
    client = await client_by_id(session, client_id)
    return list(
        await session.scalars(
            select(SenderId)
            .where(col(SenderId.client_id) == client.id)
            .order_by(col(SenderId.created_at))
        )
    )


async def remove_sender(
    session: AsyncSession, operator: Caller, client_id: str, sender_id: str
) -> SenderId:
    client = await client_by_id(session, client_id)
    sender = await session.scalar(
        select(SenderId)
        .where(col(SenderId.client_id) == client.id, col(SenderId.sender_id) == sender_id)
        .with_for_update()
    )
    if sender is None:
        raise NotFound("The client has no such sender id.", params={"entity": "sender id"})
    await session.delete(sender)
    await session.flush()
    await _journal_sender(session, operator, client.region_code, sender, "delete")
    return sender


async def _journal_sender(
    session: AsyncSession, operator: Caller, region: str | None, sender: SenderId, action: str
) -> None:
    values = [str(sender.client_id), sender.sender_id]
    await record_write(
        session,
        operator,
        action=action,
        entity="dci_sender",
        record_id=sender.id,
        region_code=region,
        version=None,
        publish=False,
        changes={
            "client_id": [None, values[0]] if action == "create" else [values[0], None],
            "sender_id": [None, values[1]] if action == "create" else [values[1], None],
        },
    )


class SenderKeyCache:
    """The keys of each client this process has checked a message of, remembered on the terms
    of ``ClientStates`` (only while it listens; forgotten with the client, which a key's
    change notifies: migration 0012), so that a message needs no read of its client's keys."""

    CAPACITY = 10_000

    def __init__(self, states: ClientStates) -> None:
        self._states = states
        self._keys: dict[uuid.UUID, tuple[SenderKey, ...]] = {}
        self._senders: dict[uuid.UUID, frozenset[str]] = {}
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

    def recall_senders(self, client_id: uuid.UUID) -> frozenset[str] | None:
        return self._senders.get(client_id) if self._states.listening else None

    def remember_senders(self, client_id: uuid.UUID, senders: frozenset[str], epoch: int) -> None:
        if not self._states.listening or epoch != self._states.epoch:
            return
        if len(self._senders) >= self.CAPACITY:
            self._senders.pop(next(iter(self._senders)))
        self._senders[client_id] = senders

    def _forget(self, client_id: uuid.UUID | None) -> None:
        if client_id is None:
            self._keys.clear()
            self._senders.clear()
        else:
            self._keys.pop(client_id, None)
            self._senders.pop(client_id, None)


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


_SENDERS_SQL = "SELECT sender_id FROM dci_sender WHERE client_id = $1"


async def registered_senders(
    read: OneStatement | AsyncSession, caller: Caller, cache: SenderKeyCache | None
) -> frozenset[str]:
    """The sender ids the caller registered (none: it may send as any): remembered, or read."""
    if caller.client_id is None:
        return frozenset()
    remembered = cache.recall_senders(caller.client_id) if cache is not None else None
    if remembered is not None:
        return remembered
    epoch = cache.epoch if cache is not None else 0
    if isinstance(read, AsyncSession):
        senders = frozenset(
            await read.scalars(
                select(col(SenderId.sender_id)).where(col(SenderId.client_id) == caller.client_id)
            )
        )
    else:
        async with read() as connection:
            rows = await connection.fetch(_SENDERS_SQL, caller.client_id)
        senders = frozenset(row["sender_id"] for row in rows)
    if cache is not None:
        cache.remember_senders(caller.client_id, senders, epoch)
    return senders


def check_sender_with(senders: frozenset[str], envelope: RequestEnvelope) -> None:
    """A client that registered sender ids sends as one of them (``err.sender_id.invalid``,
    403, otherwise)."""
    if senders and envelope.header.get("sender_id") not in senders:
        raise DciRejection(
            reasons.SENDER_ID_INVALID, "header.sender_id is not one this client may send as."
        )


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
    """``check_sender_with`` the caller's sender ids and ``check_signature_with`` its keys, read
    in ``session`` (or remembered)."""
    check_sender_with(await registered_senders(session, caller, cache), envelope)
    keys = await active_keys(session, caller, cache)
    check_signature_with(
        keys, envelope, required=required, max_age_seconds=max_age_seconds, now=now
    )
