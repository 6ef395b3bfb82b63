"""The webhook dispatcher: sends the outbox (``webhook_delivery``) to the subscribers.

Any number of processes may run it against one database (``dinsos serve`` runs one unless
``DINSOS_WEBHOOK_DISPATCHER=false``, ``dinsos worker`` runs one alone). Per subscription:

- **one sender at a time**: a process sends for a subscription only while it holds that
  subscription's advisory lock (``locks.py`` says why a session lock and not ``FOR UPDATE SKIP
  LOCKED`` or procrastinate), and it re-reads the deliveries after taking the lock, so what
  another process already delivered is never sent again;
- **in feed order**: pending deliveries go out by ``(txid, event_id)``, and only those of
  transactions older than the feed's horizon (``pg_snapshot_xmin``, as in
  ``service.changes.feed``), so a transaction that began earlier and commits later cannot have
  its event sent after a later one;
- **head of line**: while the oldest pending delivery waits for its retry, the later ones wait
  too; when its retry window has passed it is parked, the subscription is marked ``failing``,
  and the next ones go on;
- paused and deleted subscriptions, and those of revoked clients, send nothing (their
  deliveries stay pending for a resume).

No transaction is open while a request is in flight: each batch is read in one short
transaction, the audit of unmasked personal data is committed before the batch is sent, and the
outcomes are written in one short transaction after it, before the lock is released.

The dispatcher wakes on the ``change_event`` notification (every committed change), on
``webhook_delivery`` (``wake_dispatchers``: a redelivery or a resume, which write no change),
at the next due retry, and every ``webhook_poll_seconds`` as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from service.access import Caller
from service.changes.notifications import CHANNEL as CHANGE_CHANNEL
from service.changes.tables import ChangeEvent
from service.database import asyncpg_dsn, create_engine, create_session_factory
from service.journal import record_reads
from service.settings import Settings
from service.webhooks.locks import SubscriptionLocks
from service.webhooks.messages import Message, build_message, message_id
from service.webhooks.retries import RetryPolicy
from service.webhooks.signing import SigningKeys, signed_headers
from service.webhooks.targets import Answer, TargetClient, TargetPolicy

log = logging.getLogger(__name__)

# Notified by ``wake_dispatchers`` when deliveries become pending without a new change.
DELIVERY_CHANNEL = "webhook_delivery"

ERROR_MAX = 500

RECHECK_FIRST_SECONDS = 0.05
RECHECK_MAX_SECONDS = 1.0


async def wake_dispatchers(session: AsyncSession) -> None:
    """Tell every dispatcher (at commit) that deliveries became pending again: a redelivery,
    a resumed subscription."""
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": DELIVERY_CHANNEL})


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
    SELECT s.url, s.status, s.secret, s.previous_secret, s.previous_secret_expires_at,
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
    SELECT d.id, d.event_id, d.attempts, d.next_attempt_at <= :now AS due,
           CASE WHEN d.attempts > 0 THEN (
               SELECT a.attempted_at FROM webhook_attempt a
                WHERE a.delivery_id = d.id
                ORDER BY a.id DESC OFFSET d.attempts - 1 LIMIT 1)
           END AS first_try_at
      FROM webhook_delivery d
     WHERE d.subscription_id = :subscription_id AND d.status = 'pending'
       AND d.txid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint
     ORDER BY d.txid, d.event_id
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
_ATTEMPT = text(
    """
    INSERT INTO webhook_attempt (delivery_id, attempted_at, status_code, error, duration_ms)
    VALUES (:id, :at, :status_code, :error, :duration_ms)
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
    """A subscription as the dispatcher needs it, read fresh for each batch."""

    url: str
    failing: bool
    keys: SigningKeys
    reader: Caller


@dataclass(frozen=True)
class Pending:
    id: int
    event: ChangeEvent
    attempts: int
    due: bool
    first_try_at: datetime | None


@dataclass(frozen=True)
class Outcome:
    delivery: Pending
    answer: Answer
    attempted_at: datetime
    # ``delivered``, ``retry`` or ``parked``
    result: str
    next_attempt_at: datetime | None = None

    def error(self) -> str | None:
        if self.answer.error is not None:
            return self.answer.error[:ERROR_MAX]
        if self.answer.ok:
            return None
        excerpt = self.answer.body.decode("utf-8", errors="replace").strip()
        return f"HTTP {self.answer.status_code}: {excerpt}"[:ERROR_MAX]


def _now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    def __init__(
        self,
        database_url: str,
        settings: Settings,
        *,
        engine: AsyncEngine | None = None,
    ) -> None:
        self._settings = settings
        self._own_engine = engine is None
        self._engine = engine or create_engine(
            database_url,
            settings.model_copy(update={"db_pool_size": 4, "db_max_overflow": 8}),
        )
        self._sessions: async_sessionmaker[AsyncSession] = create_session_factory(self._engine)
        self._locks = SubscriptionLocks(
            asyncpg_dsn(database_url), (CHANGE_CHANNEL, DELIVERY_CHANNEL), self._wake_up
        )
        self._client = TargetClient(TargetPolicy.from_settings(settings))
        self._retries = RetryPolicy(
            base_seconds=settings.webhook_retry_base_seconds,
            max_seconds=settings.webhook_retry_max_seconds,
            window_seconds=settings.webhook_retry_window_seconds,
        )
        self._woken = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._recheck: float | None = None

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Send until ``stop``; then let the sends in flight finish (up to the grace time)."""
        try:
            while not self._stopping.is_set():
                self._woken.clear()
                try:
                    await self._locks.connect()
                    wait = await self._start_due()
                except Exception:
                    log.exception("webhook dispatch pass failed; trying again shortly")
                    wait = 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), timeout=wait)
        finally:
            await self._finish()

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()

    def _wake_up(self) -> None:
        self._woken.set()

    async def _start_due(self) -> float:
        """Start a sender for each subscription with a due head; the seconds until the next
        thing to look at."""
        wait = self._settings.webhook_poll_seconds
        held_back = False
        async with self._sessions() as session, session.begin():
            heads = (await session.execute(_HEADS, {"now": _now()})).all()
        for head in heads:
            if head.subscription_id in self._running:
                continue
            if head.held_back:
                held_back = True
            elif head.wait > 0:
                wait = min(wait, float(head.wait))
            elif len(self._running) < self._settings.webhook_concurrency:
                task = asyncio.create_task(self._send_for(head.subscription_id))
                self._running[head.subscription_id] = task
                task.add_done_callback(self._sender_done(head.subscription_id))
        # Behind a running transaction: look again soon, then less often (as the feed does;
        # the transaction may end without a notification of its own).
        if held_back:
            self._recheck = min(
                RECHECK_MAX_SECONDS,
                RECHECK_FIRST_SECONDS if self._recheck is None else self._recheck * 2,
            )
            wait = min(wait, self._recheck)
        else:
            self._recheck = None
        return max(wait, 0.0)

    def _sender_done(self, subscription_id: uuid.UUID) -> Any:
        def done(task: asyncio.Task[None]) -> None:
            self._running.pop(subscription_id, None)
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "webhook sender for subscription %s failed",
                    subscription_id,
                    exc_info=task.exception(),
                )
            # Whatever arrived while it was sending (or was locked by another process and
            # skipped) is looked at again now.
            self._woken.set()

        return done

    async def _finish(self) -> None:
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=self._settings.shutdown_grace_seconds)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        await self._locks.close()
        await self._client.close()
        if self._own_engine:
            await self._engine.dispose()

    # -- one subscription -------------------------------------------------------------------

    async def _send_for(self, subscription_id: uuid.UUID) -> None:
        if not await self._locks.try_lock(subscription_id):
            return  # another process sends for it now
        try:
            while not self._stopping.is_set():
                batch = await self._read_batch(subscription_id)
                if batch is None:
                    return
                target, pending = batch
                if not await self._send_batch(subscription_id, target, pending):
                    return
        finally:
            await self._locks.unlock(subscription_id)

    async def _read_batch(self, subscription_id: uuid.UUID) -> tuple[Target, list[Pending]] | None:
        """The subscription as it is now and its next pending deliveries in order; None when
        it may not send or has nothing to send."""
        async with self._sessions() as session, session.begin():
            row = (await session.execute(_SUBSCRIPTION, {"id": subscription_id})).one_or_none()
            if row is None:
                return None
            rows = (
                await session.execute(
                    _BATCH,
                    {
                        "subscription_id": subscription_id,
                        "now": _now(),
                        "limit": self._settings.webhook_batch_size,
                    },
                )
            ).all()
            if not rows:
                return None
            events = {
                event.id: event
                for event in await session.scalars(
                    select(ChangeEvent).where(col(ChangeEvent.id).in_([r.event_id for r in rows]))
                )
            }
        target = Target(
            url=row.url,
            failing=row.status == "failing",
            keys=SigningKeys(row.secret, row.previous_secret, row.previous_secret_expires_at),
            reader=Caller(
                client_id=row.client_id,
                name=row.client_name,
                scopes=frozenset(row.scopes),
                region_code=row.region_code,
                request_id=f"webhook:{subscription_id}",
            ),
        )
        pending = [
            Pending(r.id, events[r.event_id], r.attempts, r.due, r.first_try_at) for r in rows
        ]
        return target, pending

    async def _send_batch(
        self, subscription_id: uuid.UUID, target: Target, pending: Sequence[Pending]
    ) -> bool:
        """Send the due deliveries in order, stopping at the first one that must wait for a
        retry; whether the subscription may go on with its next batch."""
        due = []
        for delivery in pending:
            if not delivery.due:
                break
            due.append(delivery)
        if not due:
            return False
        messages = [build_message(delivery.event, target.reader) for delivery in due]
        await self._audit(target.reader, messages)
        outcomes: list[Outcome] = []
        blocked = False
        try:
            for delivery, message in zip(due, messages, strict=True):
                if self._stopping.is_set() or not self._locks.holds(subscription_id):
                    blocked = True
                    break
                outcome = await self._send(target, delivery, message)
                outcomes.append(outcome)
                if outcome.result == "retry":
                    blocked = True
                    break
        finally:
            # Written even when cancelled at shutdown: what was sent is not sent again.
            await asyncio.shield(self._record(subscription_id, target, outcomes))
        return not blocked and len(due) == len(pending)

    async def _send(self, target: Target, delivery: Pending, message: Message) -> Outcome:
        attempted_at = _now()
        headers = signed_headers(
            target.keys, message_id(delivery.id), message.body, now=attempted_at
        )
        answer = await self._client.post(target.url, headers, message.body.encode())
        if answer.ok:
            return Outcome(delivery, answer, attempted_at, "delivered")
        log.info(
            "webhook delivery %s to %s failed: %s",
            delivery.id,
            target.url,
            answer.error or answer.status_code,
        )
        first_try_at = delivery.first_try_at or attempted_at
        if self._retries.gives_up(first_try_at, _now()):
            return Outcome(delivery, answer, attempted_at, "parked")
        wait = self._retries.wait_after(delivery.attempts + 1)
        return Outcome(delivery, answer, attempted_at, "retry", _now() + wait)

    async def _audit(self, reader: Caller, messages: Sequence[Message]) -> None:
        """Unmasked personal data leaving the service is audited before it leaves."""
        reads = [read for message in messages for read in message.personal_reads]
        if reads:
            async with self._sessions() as session, session.begin():
                await record_reads(session, reader, "kpm", reads)

    async def _record(
        self, subscription_id: uuid.UUID, target: Target, outcomes: Sequence[Outcome]
    ) -> None:
        if not outcomes:
            return
        now = _now()
        statements = {"delivered": _DELIVERED, "retry": _RETRY, "parked": _PARKED}
        async with self._sessions() as session, session.begin():
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
            await session.execute(
                _ATTEMPT,
                [
                    {
                        "id": outcome.delivery.id,
                        "at": outcome.attempted_at,
                        "status_code": outcome.answer.status_code,
                        "error": outcome.error(),
                        "duration_ms": outcome.answer.duration_ms,
                    }
                    for outcome in outcomes
                ],
            )
            results = {outcome.result for outcome in outcomes}
            if "parked" in results:
                await session.execute(_MARK_FAILING, {"id": subscription_id, "now": now})
            elif target.failing and "delivered" in results:
                await session.execute(_MARK_RECOVERED, {"id": subscription_id, "now": now})


async def run_dispatcher(database_url: str, settings: Settings, stop: asyncio.Event) -> None:
    """Run a dispatcher until ``stop`` is set (for ``dinsos worker``)."""
    dispatcher = Dispatcher(database_url, settings)
    running = asyncio.create_task(dispatcher.run())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
    dispatcher.stop()
    stopped.cancel()
    await running
