"""Session-level advisory locks on one dedicated connection that never opens a transaction:
who may work on a record (a webhook subscription's sends, an import job's run) across every
process on one database.

A session lock takes no transaction id, so holding it for as long as the work lasts holds back
no change-feed reader; and the server releases it the moment the holder's connection closes
(its process died), so there is no lease to expire or tune. The same connection may LISTEN on
channels, so a worker wakes when there is work. The users say why they lock this way:
``service/webhooks/locks.py`` and ``service/kpm/import_worker.py``.
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

# A stalled server must not hold a worker's loop for asyncpg's default minute.
CONNECT_TIMEOUT_SECONDS = 10.0


def lock_key(record_id: uuid.UUID) -> int:
    """The second key of the two-key lock: 32 bits of the id. Two records sharing it are merely
    worked on one after the other, never at once, so a collision is harmless."""
    return int.from_bytes(record_id.bytes[:4], "big", signed=True)


class SessionLocks:
    """The locks of one family (the lock's first key) held by this process, by record id.

    ``on_notify`` is called on every notification of ``channels`` and when the connection is
    lost (its locks are gone: the worker should look again)."""

    def __init__(
        self,
        dsn: str,
        *,
        family: int,
        application_name: str,
        channels: tuple[str, ...] = (),
        on_notify: Callable[[], None] | None = None,
        lost_message: str = "a lock connection was lost; its locks are released",
    ) -> None:
        self._dsn = dsn
        self._family = family
        self._application_name = application_name
        self._channels = channels
        self._on_notify = on_notify
        self._lost_message = lost_message
        self._connection: asyncpg.Connection | None = None
        # One connection runs one statement at a time; the calls are short.
        self._busy = asyncio.Lock()
        self._held: set[uuid.UUID] = set()

    @property
    def alive(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    def holds(self, record_id: uuid.UUID) -> bool:
        """Still ours: taken, and the connection holding it has not been lost."""
        return self.alive and record_id in self._held

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
                    server_settings={"application_name": self._application_name},
                    timeout=CONNECT_TIMEOUT_SECONDS,
                )
            except OSError as error:  # the server stopped: a database fault, not a bug
                raise DatabaseUnreachable(type(error).__name__) from error
            for channel in self._channels:
                await connection.add_listener(channel, self._notified)
            connection.add_termination_listener(self._lost)
            self._connection = connection

    async def try_lock(self, record_id: uuid.UUID) -> bool:
        async with self._busy:
            if self._connection is None or self._connection.is_closed():
                return False
            if record_id in self._held:
                # Session locks stack: taking it twice here would need two unlocks.
                return False
            taken = await self._connection.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", self._family, lock_key(record_id)
            )
            if taken:
                self._held.add(record_id)
            return bool(taken)

    async def unlock(self, record_id: uuid.UUID) -> None:
        async with self._busy:
            if record_id not in self._held:
                return
            self._held.discard(record_id)
            if self._connection is None or self._connection.is_closed():
                return
            await self._connection.fetchval(
                "SELECT pg_advisory_unlock($1, $2)", self._family, lock_key(record_id)
            )

    async def close(self) -> None:
        """Closing the connection releases every lock it holds."""
        async with self._busy:
            connection, self._connection = self._connection, None
            self._held.clear()
            if connection is not None and not connection.is_closed():
                connection.remove_termination_listener(self._lost)
                await connection.close()

    def _notified(self, *_: Any) -> None:
        if self._on_notify is not None:
            self._on_notify()

    def _lost(self, *_: Any) -> None:
        log.warning(self._lost_message)
        self._held.clear()
        if self._on_notify is not None:
            self._on_notify()
