"""A ``limits`` store in the service's own PostgreSQL, so that every replica counts together
without a Redis to run (``DINSOS_RATE_LIMIT_STORAGE=postgresql``).

Each count is one statement, an ``INSERT ... ON CONFLICT DO UPDATE`` on the key's row, which
PostgreSQL runs under the row's lock: it rolls an expired window forward, checks the rate and
counts the hit at once, so two replicas counting the same key at the same instant cannot both
take the last place. A refused hit changes nothing (the ``WHERE`` of the update is false and no
row comes back), as in ``limits``' own stores. Times come from the database's clock, the one
clock all replicas share. Expired rows are swept by a short ``DELETE`` at most once a
``SWEEP_SECONDS`` per process, after a count.

The store has a small pool of its own (asyncpg), not the application's: a request that already
holds a pooled connection for its transaction and then waits for another one to count itself
could starve the pool under load. Every wait is bounded by ``timeout`` (a connection, a place
in the pool, the statement); the caller lets a request pass uncounted when the store cannot
answer in time (``service.rate_limits``)."""

from __future__ import annotations

import asyncio
import math
import time

import asyncpg
from limits.aio.storage import MovingWindowSupport, SlidingWindowCounterSupport, Storage

from service.connections import SERVER_SETTINGS, asyncpg_dsn

SWEEP_SECONDS = 60.0
# Counting takes a fraction of a millisecond: a few connections serve thousands a second.
POOL_SIZE = 8

_CLOCK = "(SELECT extract(epoch FROM clock_timestamp())::float8 AS now) AS clock"

# Fixed window ($1 key, $2 expiry, $3 amount): a row past its expiry starts a new window.
_INCR = f"""
INSERT INTO rate_limit_count AS c (key, window_start, count, previous, expires_at)
SELECT $1, now, $3::int, 0, now + $2::float8 FROM {_CLOCK}
ON CONFLICT (key) DO UPDATE SET
    (window_start, count, expires_at) = (
        SELECT
            CASE WHEN expired THEN EXCLUDED.window_start ELSE c.window_start END,
            CASE WHEN expired THEN EXCLUDED.count ELSE c.count + EXCLUDED.count END,
            CASE WHEN expired THEN EXCLUDED.expires_at ELSE c.expires_at END
        FROM (SELECT c.expires_at <= EXCLUDED.window_start AS expired) AS window_state
    )
RETURNING count
"""

# Sliding-window counter ($1 key, $2 limit, $3 expiry, $4 amount). Windows of ``expiry``
# seconds from the key's first hit; ``elapsed`` is how many ended since the row's own.
_ELAPSED = "greatest(0, floor((EXCLUDED.window_start - c.window_start) / $3::float8))"
_ROLLED = f"""
    SELECT
        c.window_start + elapsed * $3::float8 AS start,
        CASE elapsed WHEN 0 THEN c.previous WHEN 1 THEN c.count ELSE 0 END AS previous,
        CASE elapsed WHEN 0 THEN c.count ELSE 0 END AS current
    FROM (SELECT {_ELAPSED} AS elapsed) AS windows
"""
_ACQUIRE_SLIDING = f"""
INSERT INTO rate_limit_count AS c (key, window_start, count, previous, expires_at)
SELECT $1, now, $4::int, 0, now + 2 * $3::float8 FROM {_CLOCK}
ON CONFLICT (key) DO UPDATE SET
    (window_start, previous, count, expires_at) = (
        SELECT start, previous, current + $4::int, start + 2 * $3::float8 FROM ({_ROLLED}) AS r
    )
WHERE (
    -- The previous window's count, weighted by the part of it still inside the sliding one.
    SELECT floor(previous * (start + $3::float8 - EXCLUDED.window_start) / $3::float8)
        + current + $4::int <= $2::int
    FROM ({_ROLLED}) AS r
)
RETURNING true
"""

# Moving window ($1 key, $2 limit, $3 expiry, $4 amount): the times of the latest ``limit``
# hits, newest first. Room for ``amount`` more when the hit ``amount`` places from the end
# has left the window (or there is none).
_ACQUIRE_MOVING = f"""
INSERT INTO rate_limit_count AS c (key, window_start, count, previous, hits, expires_at)
SELECT $1, now, 0, 0, array_fill(now, ARRAY[$4::int]), now + $3::float8 FROM {_CLOCK}
ON CONFLICT (key) DO UPDATE SET
    hits = (EXCLUDED.hits || c.hits)[1:$2::int],
    window_start = EXCLUDED.window_start,
    expires_at = EXCLUDED.expires_at
WHERE coalesce(c.hits[$2::int - $4::int + 1] < EXCLUDED.window_start - $3::float8, true)
RETURNING true
"""

_ROW = f"""
SELECT now, c.window_start, c.count, c.previous, c.hits, c.expires_at
FROM {_CLOCK} LEFT JOIN rate_limit_count AS c ON c.key = $1
"""

_SWEEP = f"""
DELETE FROM rate_limit_count WHERE key IN (
    SELECT key FROM rate_limit_count, {_CLOCK}
    WHERE expires_at < now LIMIT 10000 FOR UPDATE SKIP LOCKED
)
"""


class PostgresStorage(Storage, MovingWindowSupport, SlidingWindowCounterSupport):
    """``limits``' asyncio store interface on the ``rate_limit_count`` table: the fixed window
    (``incr``), the moving window and the sliding-window counter. Each key is counted by one
    strategy (its key names the rate, and a rate has one strategy)."""

    STORAGE_SCHEME = None  # chosen by the service ("postgresql"), not by a URL of its own

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout
        self._dsn: str | None = None
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._next_sweep = 0.0

    def bind(self, url: str) -> None:
        """The database to count in: the service's own, known when the application starts."""
        self._dsn = asyncpg_dsn(url)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

    async def _connected(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        if self._dsn is None:
            raise asyncpg.InterfaceError("the rate limit store has no database yet")
        async with self._opening:
            if self._pool is None:
                # No connection opened here (min_size=0): the first count opens one, bounded.
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=POOL_SIZE,
                    timeout=self._timeout,
                    command_timeout=self._timeout,
                    server_settings={
                        **SERVER_SETTINGS,
                        "statement_timeout": str(max(1, int(self._timeout * 1000))),
                    },
                )
        return self._pool

    async def _count(self, sql: str, *args: object) -> asyncpg.Record | None:
        pool = await self._connected()
        async with pool.acquire(timeout=self._timeout) as connection:
            row: asyncpg.Record | None = await connection.fetchrow(
                sql, *args, timeout=self._timeout
            )
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + SWEEP_SECONDS
                await connection.execute(_SWEEP, timeout=self._timeout)
            return row

    async def _row(self, key: str) -> asyncpg.Record:
        pool = await self._connected()
        async with pool.acquire(timeout=self._timeout) as connection:
            row: asyncpg.Record | None = await connection.fetchrow(_ROW, key, timeout=self._timeout)
        assert row is not None  # the clock's row, with the key's joined when it has one
        return row

    # The fixed window.

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        row = await self._count(_INCR, key, float(expiry), amount)
        assert row is not None  # an upsert without WHERE always returns its row
        return int(row["count"])

    async def get(self, key: str) -> int:
        row = await self._row(key)
        alive = row["expires_at"] is not None and row["expires_at"] > row["now"]
        return int(row["count"]) if alive else 0

    async def get_expiry(self, key: str) -> float:
        row = await self._row(key)
        return float(row["expires_at"] if row["expires_at"] is not None else row["now"])

    # The moving window.

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        return await self._count(_ACQUIRE_MOVING, key, limit, float(expiry), amount) is not None

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        row = await self._row(key)
        now = float(row["now"])
        inside = [hit for hit in row["hits"] or () if hit >= now - expiry]
        return (min(inside), len(inside)) if inside else (now, 0)

    # The sliding-window counter.

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        return await self._count(_ACQUIRE_SLIDING, key, limit, float(expiry), amount) is not None

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        """(previous count, seconds until it leaves, current count, seconds until it leaves),
        the windows rolled to now as the next count would roll them."""
        row = await self._row(key)
        if row["window_start"] is None:
            return 0, 0.0, 0, 0.0
        now = float(row["now"])
        elapsed = max(0, math.floor((now - row["window_start"]) / expiry))
        previous = {0: row["previous"], 1: row["count"]}.get(elapsed, 0)
        current = row["count"] if elapsed == 0 else 0
        start = row["window_start"] + elapsed * expiry
        previous_ttl = start + expiry - now if previous else 0.0
        return previous, previous_ttl, current, start + 2 * expiry - now

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        await self.clear(key)

    # Housekeeping.

    async def check(self) -> bool:
        try:
            pool = await self._connected()
            async with pool.acquire(timeout=self._timeout) as connection:
                await connection.fetchval("SELECT 1", timeout=self._timeout)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            return False
        return True

    async def reset(self) -> int | None:
        pool = await self._connected()
        async with pool.acquire(timeout=self._timeout) as connection:
            status = await connection.execute("DELETE FROM rate_limit_count")
        return int(status.split()[-1])

    async def clear(self, key: str) -> None:
        pool = await self._connected()
        async with pool.acquire(timeout=self._timeout) as connection:
            await connection.execute("DELETE FROM rate_limit_count WHERE key = $1", key)
