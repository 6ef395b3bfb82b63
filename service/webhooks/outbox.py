"""The outbox's bookkeeping for the dispatcher, each step one short transaction of its own:
which subscriptions have a due delivery, a subscription's next deliveries in feed order, the
audit of personal data about to leave, and the outcome of each try (the delivery log, parking,
the subscription's ``failing`` mark)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.access import Caller
from service.changes.tables import ChangeEvent
from service.journal import record_reads
from service.webhooks.messages import Message
from service.webhooks.signing import SigningKeys
from service.webhooks.targets import Answer

ERROR_MAX = 500


def now() -> datetime:
    return datetime.now(UTC)


# The first pending delivery of each subscription that may send: due now, waiting for its
# retry (``wait``), or behind a transaction still running (``held_back``).
_HEADS = text(
    """
    WITH horizon AS (SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS xmin)
    SELECT s.id AS subscription_id,
           head.txid >= horizon.xmin AS held_back,
           extract(epoch FROM head.next_attempt_at - :now) AS wait
      FROM webhook_subscription s
      JOIN api_client c ON c.id = s.client_id AND c.revoked_at IS NULL
     CROSS JOIN horizon
     CROSS JOIN LATERAL (
           SELECT d.txid, d.next_attempt_at
             FROM webhook_delivery d
            WHERE d.subscription_id = s.id AND d.status = 'pending'
            ORDER BY d.txid, d.event_id
            LIMIT 1) head
     WHERE s.deleted_at IS NULL AND s.status IN ('active', 'failing')
    """
)

_SUBSCRIPTION = text(
    """
    SELECT s.url, s.status, s.kind, s.secret, s.previous_secret, s.previous_secret_expires_at,
           c.id AS client_id, c.name AS client_name, c.scopes, c.region_code
      FROM webhook_subscription s
      JOIN api_client c ON c.id = s.client_id
     WHERE s.id = :id AND s.deleted_at IS NULL AND s.status IN ('active', 'failing')
       AND c.revoked_at IS NULL
    """
)

# ``first_try_at``: the first attempt of the current run. Every failed attempt adds one to
# ``attempts`` and one row to the log, and a redelivery sets ``attempts`` back to 0, so the
# run began with the ``attempts``-th latest attempt.
_BATCH = text(
    """
    SELECT d.id, d.event_id, d.body, d.dci_transaction_id, d.dci_personal, d.attempts,
           d.next_attempt_at <= :now AS due,
           CASE WHEN d.attempts > 0 THEN (
               SELECT a.attempted_at FROM webhook_attempt a
                WHERE a.delivery_id = d.id
                ORDER BY a.id DESC OFFSET d.attempts - 1 LIMIT 1)
           END AS first_try_at
      FROM webhook_delivery d
     WHERE d.subscription_id = :subscription_id AND d.status = 'pending'
       AND d.txid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint
     ORDER BY d.txid, d.event_id, d.id
     LIMIT :limit
    """
)

_DELIVERED = text(
    """
    UPDATE webhook_delivery
       SET status = 'delivered', delivered_at = :at, attempts = attempts + 1,
           last_status_code = :status_code, last_error = NULL
     WHERE id = :id AND status = 'pending'
    """
)
_RETRY = text(
    """
    UPDATE webhook_delivery
       SET attempts = attempts + 1, next_attempt_at = :next_attempt_at,
           last_status_code = :status_code, last_error = :error
     WHERE id = :id AND status = 'pending'
    """
)
_PARKED = text(
    """
    UPDATE webhook_delivery
       SET status = 'parked', attempts = attempts + 1,
           last_status_code = :status_code, last_error = :error
     WHERE id = :id AND status = 'pending'
    """
)
_SKIPPED = text(
    """
    UPDATE webhook_delivery SET status = 'skipped', delivered_at = :at
     WHERE id = :id AND status = 'pending'
    """
)
_ATTEMPT = text(
    """
    INSERT INTO webhook_attempt (delivery_id, attempted_at, status_code, error, duration_ms)
    VALUES (:id, :at, :status_code, :error, :duration_ms)
    """
)
# A DCI callback delivered settles the transaction it answers: ``pdng`` becomes the status the
# callback carries (``succ`` or ``rjct``) and the journal keeps what it keeps of the answer
# (``dci_response``: a search's statuses and page counts, not its records), so ``txn/status``
# tells the caller it arrived, and what it said.
_SETTLE_DCI_TRANSACTIONS = text(
    """
    UPDATE dci_transaction t
       SET status = d.body->'header'->>'status',
           response = coalesce(d.dci_response, t.response), updated_at = :now
      FROM webhook_delivery d
     WHERE d.id = ANY(:ids) AND t.id = d.dci_transaction_id AND t.status = 'pdng'
    """
)
# A DCI callback parked (never delivered) settles its transaction as refused, saying why, so
# ``txn/status`` does not answer ``pdng`` forever.
_SETTLE_UNDELIVERED_DCI_TRANSACTIONS = text(
    """
    UPDATE dci_transaction t
       SET status = 'rjct', response = jsonb_build_object('undelivered', CAST(:reason AS text)),
           updated_at = :now
      FROM webhook_delivery d
     WHERE d.id = ANY(:ids) AND t.id = d.dci_transaction_id AND t.status = 'pdng'
    """
)
UNDELIVERED = "The callback could not be delivered to sender_uri; send the request again."
# A prebuilt body (a DCI callback, possibly with unmasked personal data) is kept only until its
# delivery is settled; the journal keeps what it keeps of the answer (``dci_response``).
_FORGET_BODIES = text(
    """
    UPDATE webhook_delivery SET body = NULL
     WHERE id = ANY(:ids) AND body IS NOT NULL AND status IN ('delivered', 'parked')
    """
)
_MARK_FAILING = text(
    """
    UPDATE webhook_subscription
       SET status = 'failing', failing_since = :now, updated_at = :now, version = version + 1
     WHERE id = :id AND status = 'active'
    """
)
# A failing subscription whose parked deliveries were all delivered again is healthy.
_MARK_RECOVERED = text(
    """
    UPDATE webhook_subscription
       SET status = 'active', failing_since = NULL, updated_at = :now, version = version + 1
     WHERE id = :id AND status = 'failing'
       AND NOT EXISTS (SELECT 1 FROM webhook_delivery
                        WHERE subscription_id = :id AND status = 'parked')
    """
)


@dataclass(frozen=True)
class Target:
    """A subscription (or DCI channel) as the dispatcher needs it, read fresh for each batch."""

    url: str
    failing: bool
    # Which kind of channel (``service.webhooks.tables.KINDS``): how its messages are built
    # and signed.
    kind: str
    # The Standard Webhooks secrets; None for DCI channels.
    keys: SigningKeys | None
    reader: Caller
    id: uuid.UUID | None = None


@dataclass(frozen=True)
class Pending:
    id: int
    # The change it announces, or None for a prebuilt message (``body``).
    event: ChangeEvent | None
    attempts: int
    due: bool
    first_try_at: datetime | None
    body: dict[str, Any] | None = None
    dci_transaction_id: uuid.UUID | None = None
    # ``body`` holds unmasked personal data (``pii:read`` needed when it is sent).
    dci_personal: bool = False


@dataclass(frozen=True)
class Outcome:
    delivery: Pending
    answer: Answer
    attempted_at: datetime
    # ``delivered``, ``retry``, ``parked`` or ``skipped`` (not sent: no attempt)
    result: str
    next_attempt_at: datetime | None = None

    def error(self) -> str | None:
        if self.answer.error is not None:
            return self.answer.error[:ERROR_MAX]
        if self.answer.ok:
            return None
        excerpt = self.answer.body.decode("utf-8", errors="replace").strip()
        return f"HTTP {self.answer.status_code}: {excerpt}"[:ERROR_MAX]


async def read_heads(sessions: async_sessionmaker[AsyncSession], at: datetime) -> list[Any]:
    """Per subscription that may send: its first pending delivery's ``wait`` (seconds until it
    is due, 0 or less when due) and whether it is ``held_back`` behind the feed's horizon."""
    async with sessions() as session, session.begin():
        return list((await session.execute(_HEADS, {"now": at})).all())


async def read_batch(
    sessions: async_sessionmaker[AsyncSession], subscription_id: uuid.UUID, *, limit: int
) -> tuple[Target, list[Pending]] | None:
    """The subscription as it is now and its next pending deliveries in order; None when
    it may not send or has nothing to send."""
    async with sessions() as session, session.begin():
        row = (await session.execute(_SUBSCRIPTION, {"id": subscription_id})).one_or_none()
        if row is None:
            return None
        rows = (
            await session.execute(
                _BATCH,
                {
                    "subscription_id": subscription_id,
                    "now": now(),
                    "limit": limit,
                },
            )
        ).all()
        if not rows:
            return None
        event_ids = [r.event_id for r in rows if r.event_id is not None]
        events = (
            {
                event.id: event
                for event in await session.scalars(
                    select(ChangeEvent).where(col(ChangeEvent.id).in_(event_ids))
                )
            }
            if event_ids
            else {}
        )
    target = Target(
        url=row.url,
        failing=row.status == "failing",
        kind=row.kind,
        keys=(
            None
            if row.secret is None
            else SigningKeys(row.secret, row.previous_secret, row.previous_secret_expires_at)
        ),
        id=subscription_id,
        reader=Caller(
            client_id=row.client_id,
            name=row.client_name,
            scopes=frozenset(row.scopes),
            region_code=row.region_code,
            request_id=f"webhook:{subscription_id}",
        ),
    )
    # An event pruned between the two reads took its delivery with it (ON DELETE CASCADE).
    pending = [
        Pending(
            r.id,
            None if r.event_id is None else events[r.event_id],
            r.attempts,
            r.due,
            r.first_try_at,
            r.body,
            r.dci_transaction_id,
            r.dci_personal,
        )
        for r in rows
        if r.event_id is None or r.event_id in events
    ]
    return (target, pending) if pending else None


async def audit_reads(
    sessions: async_sessionmaker[AsyncSession], reader: Caller, messages: Sequence[Message]
) -> None:
    """Unmasked personal data leaving the service is audited before it leaves."""
    reads = [read for message in messages for read in message.personal_reads]
    if reads:
        async with sessions() as session, session.begin():
            await record_reads(session, reader, "kpm", reads)


async def record_outcomes(
    sessions: async_sessionmaker[AsyncSession],
    subscription_id: uuid.UUID,
    target: Target,
    outcomes: Sequence[Outcome],
) -> None:
    """The outcome of each try, in one short transaction: the deliveries' state, the log, the
    subscription's health, and the DCI transactions that the delivered messages settle."""
    if not outcomes:
        return
    at = now()
    statements = {
        "delivered": _DELIVERED,
        "retry": _RETRY,
        "parked": _PARKED,
        "skipped": _SKIPPED,
    }
    async with sessions() as session, session.begin():
        for result, statement in statements.items():
            rows = [
                {
                    "id": outcome.delivery.id,
                    "at": outcome.attempted_at,
                    "status_code": outcome.answer.status_code,
                    "error": outcome.error(),
                    "next_attempt_at": outcome.next_attempt_at,
                }
                for outcome in outcomes
                if outcome.result == result
            ]
            if rows:
                await session.execute(statement, rows)
        attempts = [
            {
                "id": outcome.delivery.id,
                "at": outcome.attempted_at,
                "status_code": outcome.answer.status_code,
                "error": outcome.error(),
                "duration_ms": outcome.answer.duration_ms,
            }
            for outcome in outcomes
            if outcome.result != "skipped"
        ]
        if attempts:
            await session.execute(_ATTEMPT, attempts)
        settled = [
            outcome.delivery.id
            for outcome in outcomes
            if outcome.result == "delivered" and outcome.delivery.dci_transaction_id is not None
        ]
        if settled:
            await session.execute(_SETTLE_DCI_TRANSACTIONS, {"ids": settled, "now": at})
        undelivered = [
            outcome.delivery.id
            for outcome in outcomes
            if outcome.result == "parked" and outcome.delivery.dci_transaction_id is not None
        ]
        if undelivered:
            await session.execute(
                _SETTLE_UNDELIVERED_DCI_TRANSACTIONS,
                {"ids": undelivered, "now": at, "reason": UNDELIVERED},
            )
        prebuilt = [
            outcome.delivery.id
            for outcome in outcomes
            if outcome.result in ("delivered", "parked") and outcome.delivery.body is not None
        ]
        if prebuilt:
            await session.execute(_FORGET_BODIES, {"ids": prebuilt})
        results = {outcome.result for outcome in outcomes}
        if "parked" in results:
            await session.execute(_MARK_FAILING, {"id": subscription_id, "now": at})
        elif target.failing and "delivered" in results:
            await session.execute(_MARK_RECOVERED, {"id": subscription_id, "now": at})
