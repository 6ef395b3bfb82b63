"""Wake long-polling feed readers when change events are committed.

The ``change_event`` table sends ``NOTIFY change_event`` from a trigger, delivered at commit.
One process listens on one dedicated connection, opened on first use, and every waiter of the
process shares it; nobody polls in a loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from service.database_faults import DatabaseUnreachable

log = logging.getLogger(__name__)

CHANNEL = "change_event"
# After a failed connect, the waiters queued behind it fail at once for this long instead of
# each waiting out a timeout of its own against a database that is away.
FAIL_FAST_SECONDS = 1.0


class ChangeSignal:
    def __init__(self, dsn: str, *, connect_timeout: float = 10.0) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._failed_at: float | None = None
        self._connection: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._waiters: set[asyncio.Future[None]] = set()

    @asynccontextmanager
    async def armed(self) -> AsyncIterator[asyncio.Future[None]]:
        """A future that completes at the next committed change. Arm it before reading, so a
        change committed between the read and the wait still wakes the waiter."""
        await self._listen()
        arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(arrived)
        try:
            yield arrived
        finally:
            self._waiters.discard(arrived)

    async def close(self) -> None:
        async with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None and not connection.is_closed():
                connection.remove_termination_listener(self._lost)
                await connection.close()

    async def _listen(self) -> None:
        async with self._lock:
            if self._connection is not None and not self._connection.is_closed():
                return
            clock = asyncio.get_running_loop().time()
            if self._failed_at is not None and clock - self._failed_at < FAIL_FAST_SECONDS:
                raise DatabaseUnreachable("the change notification connection failed just now")
            try:
                connection = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
            except (OSError, asyncpg.PostgresError) as error:
                # A stopped, stalled or restarting server: a 503, as for any read.
                self._failed_at = asyncio.get_running_loop().time()
                if isinstance(error, OSError):
                    raise DatabaseUnreachable(type(error).__name__) from error
                raise
            self._failed_at = None
            await connection.add_listener(CHANNEL, self._notified)
            connection.add_termination_listener(self._lost)
            self._connection = connection

    def _notified(self, *_: Any) -> None:
        self._wake_all()

    def _lost(self, *_: Any) -> None:
        # The next waiter reconnects; the present ones read again, so nothing is missed.
        log.warning("the change notification connection was lost")
        self._connection = None
        self._wake_all()

    def _wake_all(self) -> None:
        for waiter in list(self._waiters):
            if not waiter.done():
                waiter.set_result(None)


async def wait_for(arrived: asyncio.Future[None], seconds: float) -> bool:
    """Whether a change arrived within ``seconds``."""
    try:
        await asyncio.wait_for(asyncio.shield(arrived), timeout=max(seconds, 0.0))
    except TimeoutError:
        return False
    return True
