"""Who sends for a subscription now: a session-level advisory lock per subscription, held on one
dedicated connection per dispatcher that never opens a transaction.

Why not ``SELECT ... FOR UPDATE SKIP LOCKED`` around the send: a row lock lives in a
transaction, and a transaction that locks rows takes a transaction id. Held open during an HTTP
call (up to the timeouts, for every slow receiver), it would hold the change feed's horizon
(``pg_snapshot_xmin``) back for every feed reader and every other subscription. A session-level
advisory lock takes no transaction id and holds back nothing; the sends' bookkeeping happens in
short transactions of their own. It is also released by the server the moment the holding
process dies (its connection closes), so there is no lease to expire or tune. The lock is per
subscription, not per delivery, because order per subscription is the point: one holder sends
a subscription's deliveries one after the other, and two holders can never overlap.

Why not procrastinate: a job queue runs jobs in any order across workers and retries each job
on its own; in-order delivery per subscription with a head-of-line wait is exactly what it
does not give, and the outbox rows already are the queue (written by the trigger in the
writer's transaction).

The same connection LISTENs for committed changes, so a dispatcher wakes when there is work.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from service.database_faults import DatabaseUnreachable

log = logging.getLogger(__name__)

# A stalled server must not hold the dispatcher's loop for asyncpg's default minute.
CONNECT_TIMEOUT_SECONDS = 10.0

# The first key of the two-key advisory lock: this lock family ("WH").
LOCK_FAMILY = 0x5748


def lock_key(subscription_id: uuid.UUID) -> int:
    """The second key: 32 bits of the id. Two subscriptions sharing it are merely sent one
    after the other, never at once, so a collision is harmless."""
    return int.from_bytes(subscription_id.bytes[:4], "big", signed=True)


class SubscriptionLocks:
    def __init__(self, dsn: str, channels: tuple[str, ...], on_notify: Callable[[], None]):
        self._dsn = dsn
        self._channels = channels
        self._on_notify = on_notify
        self._connection: asyncpg.Connection | None = None
        # One connection runs one statement at a time; the calls are short.
        self._busy = asyncio.Lock()
        self._held: set[uuid.UUID] = set()

    @property
    def alive(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    def holds(self, subscription_id: uuid.UUID) -> bool:
        """Still ours: taken, and the connection holding it has not been lost."""
        return self.alive and subscription_id in self._held

    async def connect(self) -> None:
        """(Re)connect. Locks of a lost connection were released by the server; whatever was
        notified while disconnected is caught by the caller's next pass."""
        async with self._busy:
            if self.alive:
                return
            self._held.clear()
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    server_settings={"application_name": "dinsos-webhooks"},
                    timeout=CONNECT_TIMEOUT_SECONDS,
                )
            except OSError as error:  # the server stopped: a database fault, not a bug
                raise DatabaseUnreachable(type(error).__name__) from error
            for channel in self._channels:
                await connection.add_listener(channel, self._notified)
            connection.add_termination_listener(self._lost)
            self._connection = connection

    async def try_lock(self, subscription_id: uuid.UUID) -> bool:
        async with self._busy:
            if self._connection is None or self._connection.is_closed():
                return False
            if subscription_id in self._held:
                # Session locks stack: taking it twice here would need two unlocks.
                return False
            taken = await self._connection.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", LOCK_FAMILY, lock_key(subscription_id)
            )
            if taken:
                self._held.add(subscription_id)
            return bool(taken)

    async def unlock(self, subscription_id: uuid.UUID) -> None:
        async with self._busy:
            if subscription_id not in self._held:
                return
            self._held.discard(subscription_id)
            if self._connection is None or self._connection.is_closed():
                return
            await self._connection.fetchval(
                "SELECT pg_advisory_unlock($1, $2)", LOCK_FAMILY, lock_key(subscription_id)
            )

    async def close(self) -> None:
        async with self._busy:
            connection, self._connection = self._connection, None
            self._held.clear()
            if connection is not None and not connection.is_closed():
                connection.remove_termination_listener(self._lost)
                await connection.close()

    def _notified(self, *_: Any) -> None:
        self._on_notify()

    def _lost(self, *_: Any) -> None:
        log.warning("the webhook dispatcher's lock connection was lost; its locks are released")
        self._held.clear()
        self._on_notify()
