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
outcomes are written in one short transaction after it, before the lock is released (those
steps live in ``outbox.py``).

The same loop sends the DCI channels' messages (``service.dci.deliveries``): each kind of channel
has its own way to build a delivery's message (a change event as a webhook message, a change
event as a DCI ``registry/notify`` message, or the prebuilt message the delivery carries) and to
sign it (Standard Webhooks headers, or the DCI signature inside the envelope); everything else
(locks, order, retries, parking, audit before sending) is one code path.

The dispatcher wakes on the ``change_event`` notification (every committed change), on
``webhook_delivery`` (``wake_dispatchers``: a redelivery or a resume, which write no change),
at the next due retry, and every ``webhook_poll_seconds`` as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.changes.notifications import CHANNEL as CHANGE_CHANNEL
from service.changes.tables import ChangeEvent
from service.connections import asyncpg_dsn
from service.database import create_engine, create_session_factory
from service.database_faults import is_database_unavailable
from service.dci.deliveries import compose_notifications, prebuilt_dci_message, signed_dci_body
from service.dci.signatures import ServiceSigner, service_signer
from service.settings import Settings
from service.webhooks.locks import SubscriptionLocks
from service.webhooks.messages import (
    Message,
    Unsendable,
    build_message,
    message_id,
)
from service.webhooks.outbox import (
    Outcome,
    Pending,
    Target,
    audit_reads,
    now,
    read_batch,
    read_heads,
    record_outcomes,
)
from service.webhooks.retries import RetryPolicy
from service.webhooks.signing import signed_headers
from service.webhooks.tables import DCI_NOTIFY, WEBHOOK
from service.webhooks.targets import Answer, TargetClient, TargetPolicy
from service.webhooks.wakeups import DELIVERY_CHANNEL

log = logging.getLogger(__name__)

RECHECK_FIRST_SECONDS = 0.05
RECHECK_MAX_SECONDS = 1.0
# A subscription whose sender failed (the database went away, say) rests this long before the
# next try, so a lasting fault does not spin.
REST_AFTER_FAILURE_SECONDS = 5.0
# A subscription another process sends for is looked at again after this long (that process
# is notified of new changes too and sends them; this only covers its going away).
REST_WHILE_LOCKED_ELSEWHERE_SECONDS = 1.0


class Dispatcher:
    def __init__(
        self,
        database_url: str,
        settings: Settings,
        *,
        engine: AsyncEngine | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``ssl_context``: the certificate authorities trusted (default: certifi's bundle)."""
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
        self._client = TargetClient(TargetPolicy.from_settings(settings), ssl_context=ssl_context)
        self._retries = RetryPolicy(
            base_seconds=settings.webhook_retry_base_seconds,
            max_seconds=settings.webhook_retry_max_seconds,
            window_seconds=settings.webhook_retry_window_seconds,
        )
        self._woken = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running: dict[uuid.UUID, asyncio.Task[bool]] = {}
        self._recheck: float | None = None
        self._resting: dict[uuid.UUID, float] = {}
        self._dci_signer: ServiceSigner | None = None

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Send until ``stop``; then let the sends in flight finish (up to the grace time)."""
        failures = 0
        try:
            while not self._stopping.is_set():
                self._woken.clear()
                try:
                    await self._locks.connect()
                    wait = await self._start_due()
                    failures = 0
                except Exception as error:
                    # The database is away (or not migrated yet): try again after 1 s, 2 s,
                    # 4 s... up to the poll interval, not in a tight loop of tracebacks.
                    failures += 1
                    wait = min(2.0 ** (failures - 1), self._settings.webhook_poll_seconds)
                    if is_database_unavailable(error):  # expected to pass: no traceback
                        log.warning(
                            "webhook dispatch pass failed (database unavailable: %s); "
                            "trying again in %.0f s",
                            type(error).__name__,
                            wait,
                        )
                    else:
                        log.exception("webhook dispatch pass failed; trying again in %.0f s", wait)
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
        heads = await read_heads(self._sessions, now())
        clock = asyncio.get_running_loop().time()
        for head in heads:
            if head.subscription_id in self._running:
                continue
            rest_until = self._resting.get(head.subscription_id)
            if rest_until is not None:
                if rest_until > clock:
                    wait = min(wait, rest_until - clock)
                    continue
                del self._resting[head.subscription_id]
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
        def done(task: asyncio.Task[bool]) -> None:
            self._running.pop(subscription_id, None)
            clock = asyncio.get_running_loop().time()
            if task.cancelled():
                return
            if task.exception() is not None:
                self._resting[subscription_id] = clock + REST_AFTER_FAILURE_SECONDS
                log.error(
                    "webhook sender for subscription %s failed",
                    subscription_id,
                    exc_info=task.exception(),
                )
            elif not task.result():
                # Locked by another process: not again at once, or both would spin.
                self._resting[subscription_id] = clock + REST_WHILE_LOCKED_ELSEWHERE_SECONDS
            # Whatever arrived while it was sending is looked at again now.
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

    async def _send_for(self, subscription_id: uuid.UUID) -> bool:
        """Send what is due for the subscription; False when another process sends for it."""
        if not await self._locks.try_lock(subscription_id):
            return False
        try:
            while not self._stopping.is_set():
                batch = await read_batch(
                    self._sessions, subscription_id, limit=self._settings.webhook_batch_size
                )
                if batch is None:
                    break
                target, pending = batch
                if not await self._send_batch(subscription_id, target, pending):
                    break
        finally:
            await self._locks.unlock(subscription_id)
        return True

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
        messages = await self._compose(target, due)
        await audit_reads(
            self._sessions,
            target.reader,
            [message for message in messages if isinstance(message, Message)],
        )
        outcomes: list[Outcome] = []
        blocked = False
        try:
            for delivery, message in zip(due, messages, strict=True):
                if self._stopping.is_set() or not self._locks.holds(subscription_id):
                    blocked = True
                    break
                if message is None:
                    # Nothing to send for it (a DCI change outside the subscription's filter).
                    outcomes.append(Outcome(delivery, NOT_SENT, now(), "skipped"))
                    continue
                if isinstance(message, Unsendable):
                    # Never sent, and never will be: parked with the reason, and the channel
                    # goes on.
                    refused = Answer(None, b"", f"not sent: {message.reason}", 0)
                    outcomes.append(Outcome(delivery, refused, now(), "parked"))
                    continue
                outcome = await self._send(target, delivery, message)
                outcomes.append(outcome)
                if outcome.result == "retry":
                    blocked = True
                    break
        finally:
            # Written even when cancelled at shutdown: what was sent is not sent again.
            await asyncio.shield(record_outcomes(self._sessions, subscription_id, target, outcomes))
        return not blocked and len(due) == len(pending)

    async def _compose(
        self, target: Target, due: Sequence[Pending]
    ) -> Sequence[Message | Unsendable | None]:
        """Each delivery's message, as its channel's kind builds it; None: nothing to send."""
        if target.kind == WEBHOOK:
            return [build_message(_event(delivery), target.reader) for delivery in due]
        if target.kind == DCI_NOTIFY:
            return await compose_notifications(self._sessions, target, due, self._settings)
        return [prebuilt_dci_message(delivery, target.reader) for delivery in due]

    def _signed(
        self, target: Target, delivery: Pending, message: Message, at: datetime
    ) -> tuple[dict[str, str], bytes]:
        """The headers and bytes of one attempt, signed now as the channel's kind signs."""
        if target.kind == WEBHOOK:
            assert target.keys is not None
            headers = signed_headers(target.keys, message_id(delivery.id), message.body, now=at)
            return headers, message.body.encode()
        if self._dci_signer is None:
            self._dci_signer = service_signer(self._settings)
        return {}, signed_dci_body(self._dci_signer, message.body, now=at)

    async def _send(self, target: Target, delivery: Pending, message: Message) -> Outcome:
        attempted_at = now()
        headers, body = self._signed(target, delivery, message, attempted_at)
        answer = await self._client.post(target.url, headers, body)
        if answer.ok:
            return Outcome(delivery, answer, attempted_at, "delivered")
        # Not the URL: some carry a token in their query.
        log.info("webhook delivery %s failed: %s", delivery.id, answer.error or answer.status_code)
        first_try_at = delivery.first_try_at or attempted_at
        if self._retries.gives_up(first_try_at, now()):
            return Outcome(delivery, answer, attempted_at, "parked")
        wait = self._retries.wait_after(delivery.attempts + 1)
        return Outcome(delivery, answer, attempted_at, "retry", now() + wait)


# The answer of a delivery that was not sent.
NOT_SENT = Answer(None, b"", None, 0)


def _event(delivery: Pending) -> ChangeEvent:
    assert delivery.event is not None, "a webhook delivery carries a change event"
    return delivery.event


async def run_dispatcher(database_url: str, settings: Settings, stop: asyncio.Event) -> None:
    """Run a dispatcher until ``stop`` is set (for ``dinsos worker``)."""
    dispatcher = Dispatcher(database_url, settings)
    running = asyncio.create_task(dispatcher.run())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
    dispatcher.stop()
    stopped.cancel()
    await running
