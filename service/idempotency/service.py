"""Idempotency keys for requests that move money: a retried request is answered with the first
answer instead of being run again, so a timeout or a lost response never pays twice.

The sequence, for client C and key K:

1. *Claim*, in a short transaction of its own that commits at once: insert (C, K) as
   ``in_progress`` with ``INSERT ... ON CONFLICT DO NOTHING``. A concurrent request with the same
   key either waits for that insert to commit and then finds the row, or finds it directly.
2. *Work*, in a second transaction: lock the claimed row, run the work, store its response in
   the row (``done``) and commit, all at once. Either the payment and the stored answer are both
   there, or neither is.
3. On failure the work is rolled back and the claim deleted, so a retry runs afresh: only
   successful answers are kept and replayed.

Work may leave one step for last (``Deferred``): it runs after the answer is stored, just
before the commit, so a lock it takes (a payment's allocation) is held for one statement and
the commit instead of through the whole work. A step like that can make the work wait in a
circle with another transaction; PostgreSQL then cancels one of them with a deadlock error, and
its work is run again from the start in a new transaction (``_DEADLOCK_ATTEMPTS`` times at most).

A single payment does all of this in one statement instead (``service.disbursements.payment``):
it inserts its key ``done``, with the answer, in the statement that pays, so a concurrent retry
that waited behind it looks again and gets the stored answer. Keys found in another state come
here, and so does a payment whose statement waited too long for a lock (its first request may
still be running: the claim here answers the second of them 409 ``idempotency_in_progress``).

Each step holds one database connection at a time, so requests waiting for the pool can never
hold the connections the others need. A claim whose request died (process killed, database
restarted) is unlocked yet still ``in_progress``; a retry takes it over once it is older than
``ABANDONED_AFTER``. The claim token makes a taken-over claim unable to complete.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.access import Caller
from service.database import driver_connection
from service.errors import Conflict, FieldError, PreconditionRequired, ValidationFailed
from service.idempotency.tables import IdempotencyKey

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
# How long a key is remembered: a client retrying within a day gets the first answer.
LIFETIME = timedelta(hours=24)
# Longer than any money request runs; see the module docstring.
ABANDONED_AFTER = timedelta(minutes=2)
# Visible ASCII only, so a key can be logged and compared byte for byte.
_KEY_SHAPE = re.compile(r"^[\x21-\x7e]{1,255}$")
# Operator actions (the command line) have no client id; they share one key space.
_OPERATOR = uuid.UUID(int=0)
# Expired keys are pruned a few at a time by the claims themselves.
PRUNE_BATCH = 20
# Runs of a work whose transaction PostgreSQL cancelled to break a deadlock; see above.
_DEADLOCK_ATTEMPTS = 3
_DEADLOCK_DETECTED = "40P01"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    response: StoredResponse
    replayed: bool


@dataclass(frozen=True)
class _Claim:
    client_id: uuid.UUID
    key: str
    token: uuid.UUID


LastStep = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class Deferred:
    """The work's answer, and a step to run once that answer is stored, just before commit:
    should the step raise, nothing of the work is kept (the answer neither)."""

    response: StoredResponse
    last: LastStep


Work = Callable[[AsyncSession], Awaitable[StoredResponse | Deferred]]


def canonical_json(value: Any) -> bytes:
    """The same JSON value always gives the same bytes (key order and spacing do not count)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def request_hash(operation: str, payload: bytes) -> str:
    """What "the same request" means: the same operation with the same payload. A key reused
    for another operation or another payload is refused."""
    digest = hashlib.sha256(operation.encode())
    digest.update(b"\n")
    digest.update(payload)
    return digest.hexdigest()


def check_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise PreconditionRequired(
            f"Send an {HEADER} header: a unique value per payment (a UUID, say), reused only "
            "when retrying the same request.",
            code="idempotency_key_required",
            errors=[FieldError(HEADER, "required", f"The {HEADER} header is required.")],
        )
    key = key.strip()
    if not _KEY_SHAPE.match(key):
        raise ValidationFailed(
            errors=[
                FieldError(HEADER, "invalid_idempotency_key", "1 to 255 visible ASCII characters.")
            ]
        )
    return key


async def run_once(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    key: str | None,
    fingerprint: str,
    work: Work,
) -> Outcome:
    """Run ``work`` at most once per (client, key), in a transaction this function commits;
    answer a retry with the stored response."""
    claim_key = check_key(key)
    client_id = key_owner(caller)
    claimed = await _claim(sessions, client_id, claim_key, fingerprint)
    if isinstance(claimed, StoredResponse):
        return Outcome(claimed, replayed=True)
    try:
        for attempt in range(1, _DEADLOCK_ATTEMPTS + 1):
            try:
                response = await _run_work(sessions, claimed, work)
            except Exception as error:
                if attempt == _DEADLOCK_ATTEMPTS or not _deadlocked(error):
                    raise
                log.info("deadlock broken by PostgreSQL; running the work again")
            else:
                return Outcome(response, replayed=False)
    except BaseException:
        # Shielded: a cancelled request still frees its key for the retry.
        await asyncio.shield(_release(sessions, claimed))
        raise
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _run_work(
    sessions: async_sessionmaker[AsyncSession], claimed: _Claim, work: Work
) -> StoredResponse:
    """The work's transaction, committed."""
    async with sessions() as session, session.begin():
        await _hold(session, claimed)
        answer = await work(session)
        response = answer.response if isinstance(answer, Deferred) else answer
        await _complete(session, claimed, response)
        if isinstance(answer, Deferred):
            await answer.last(session)
    return response


def _deadlocked(error: BaseException) -> bool:
    """PostgreSQL's deadlock error, raised by asyncpg itself or wrapped by SQLAlchemy."""
    for candidate in (error, getattr(error, "orig", None), error.__cause__):
        if getattr(candidate, "sqlstate", None) == _DEADLOCK_DETECTED:
            return True
    return False


async def _claim(
    sessions: async_sessionmaker[AsyncSession], client_id: uuid.UUID, key: str, fingerprint: str
) -> _Claim | StoredResponse:
    # Two rounds at most: a claim deleted by a failed request between our insert and our read
    # is simply claimed again.
    for _ in range(2):
        async with sessions() as session, session.begin():
            token = uuid.uuid4()
            inserted = await session.scalar(
                _CLAIM,
                {
                    "client_id": client_id,
                    "key": key,
                    "request_hash": fingerprint,
                    "token": token,
                    "lifetime": LIFETIME,
                    "abandoned": ABANDONED_AFTER,
                    "prune": PRUNE_BATCH,
                },
            )
            if inserted is not None:
                return _Claim(client_id, key, token)
            found = (
                await session.execute(
                    select(IdempotencyKey, func.now()).where(
                        col(IdempotencyKey.client_id) == client_id, col(IdempotencyKey.key) == key
                    )
                )
            ).one_or_none()
            if found is None:
                continue
            row, now = found
            expired = row.expires_at <= now
            if not expired and row.request_hash != fingerprint:
                raise key_reused()
            if not expired and row.status == "done":
                return StoredResponse(row.response_status or 200, row.response_body or {})
            if expired or row.claimed_at <= now - ABANDONED_AFTER:
                taken = await _take_over(session, row, fingerprint)
                if taken is not None:
                    return taken
            raise _in_progress()
    raise _in_progress()


# The claim, and a few expired keys pruned on the way (not the one being claimed: an expired
# key of the caller is taken over below, as a retry's would be). Plain SQL, one round trip.
_CLAIM = text(
    "WITH pruned AS (DELETE FROM idempotency_key WHERE (client_id, key) IN ("
    " SELECT client_id, key FROM idempotency_key"
    " WHERE expires_at < now() - CAST(:abandoned AS interval)"
    " AND NOT (client_id = :client_id AND key = :key)"
    " ORDER BY expires_at LIMIT :prune FOR UPDATE SKIP LOCKED))"
    " INSERT INTO idempotency_key"
    " (client_id, key, request_hash, status, claim_token, claimed_at, expires_at)"
    " VALUES (:client_id, :key, :request_hash, 'in_progress', :token, now(),"
    " now() + CAST(:lifetime AS interval))"
    " ON CONFLICT (client_id, key) DO NOTHING RETURNING claim_token"
)


async def _take_over(session: AsyncSession, row: IdempotencyKey, fingerprint: str) -> _Claim | None:
    """Claim an expired key, or one whose request is gone: nobody holds its row lock. A claim
    still held by a running request is skipped, not waited for."""
    still_there = await session.scalar(
        select(col(IdempotencyKey.claim_token))
        .where(
            col(IdempotencyKey.client_id) == row.client_id,
            col(IdempotencyKey.key) == row.key,
            col(IdempotencyKey.claim_token) == row.claim_token,
        )
        .with_for_update(skip_locked=True)
    )
    if still_there is None:
        return None
    token = uuid.uuid4()
    await session.execute(
        update(IdempotencyKey)
        .where(col(IdempotencyKey.client_id) == row.client_id, col(IdempotencyKey.key) == row.key)
        .values(
            request_hash=fingerprint,
            status="in_progress",
            claim_token=token,
            response_status=None,
            response_body=None,
            claimed_at=func.now(),
            expires_at=func.now() + LIFETIME,
        )
    )
    return _Claim(row.client_id, row.key, token)


async def _hold(session: AsyncSession, claim: _Claim) -> None:
    """Lock our claim for the work's transaction: while the lock is held no retry can take the
    claim over. Gone or taken over meanwhile: someone else is now running this request."""
    held = await session.scalar(
        _HOLD, {"client_id": claim.client_id, "key": claim.key, "token": claim.token}
    )
    if held is None:
        raise _in_progress()


_HOLD = text(
    "SELECT claim_token FROM idempotency_key WHERE client_id = :client_id AND key = :key"
    " AND claim_token = :token AND status = 'in_progress' FOR UPDATE"
)


async def _complete(session: AsyncSession, claim: _Claim, response: StoredResponse) -> None:
    # On the driver: the work ran in this transaction, so no statement needs building here.
    await (await driver_connection(session)).execute(
        "UPDATE idempotency_key SET status = 'done', response_status = $4,"
        " response_body = $5::jsonb WHERE client_id = $1 AND key = $2 AND claim_token = $3",
        claim.client_id,
        claim.key,
        claim.token,
        response.status,
        json.dumps(response.body),
    )


async def _release(sessions: async_sessionmaker[AsyncSession], claim: _Claim) -> None:
    try:
        async with sessions() as session, session.begin():
            await session.execute(
                delete(IdempotencyKey).where(
                    *_own(claim), col(IdempotencyKey.status) == "in_progress"
                )
            )
    except Exception:
        # The claim will be taken over once abandoned; the original error matters more.
        log.warning("could not release an idempotency key", exc_info=True)


def _own(claim: _Claim) -> tuple[Any, ...]:
    return (
        col(IdempotencyKey.client_id) == claim.client_id,
        col(IdempotencyKey.key) == claim.key,
        col(IdempotencyKey.claim_token) == claim.token,
    )


def key_owner(caller: Caller) -> uuid.UUID:
    """Whose key space a key is in: the client's, or the operators' shared one."""
    return caller.client_id or _OPERATOR


def key_reused() -> ValidationFailed:
    return ValidationFailed(
        f"This {HEADER} was used for a different request. Use a new key for a new "
        "request; reuse a key only to retry the very same request.",
        code="idempotency_key_reused",
        errors=[FieldError(HEADER, "idempotency_key_reused", "Used for another request.")],
    )


def _in_progress() -> Conflict:
    return Conflict(
        f"A request with this {HEADER} is still running; retry in a moment to get its answer.",
        code="idempotency_in_progress",
    )
