"""Engine and session factory. One session per request, one transaction; services only flush."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import sqlalchemy.exc
from sqlalchemy import Select, event
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.compiler import SQLCompiler

from service.connections import SERVER_SETTINGS, asyncpg_dsn
from service.database_faults import DatabaseUnreachable
from service.settings import Settings


def async_url(url: str) -> str:
    """Any ``postgres://``/``postgresql://`` URL, rewritten for SQLAlchemy's asyncpg driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


# How long a pooled connection serves before it is replaced, in both pools (the engine's
# ``pool_recycle``; ``recycle_statement_pool`` for asyncpg's).
POOL_RECYCLE_SECONDS = 1800

# Errors after which a pool's idle connections are likely stale too: the connection lost, the
# server shutting down, or a server that turned read-only (a failover left this replica on the
# old primary, now a standby): the next statements must reconnect rather than each fail once.
# Not a statement timeout or a wait for the pool, after which the connections are sound.
STALE_CONNECTION_FAULTS: tuple[type[Exception], ...] = (
    ConnectionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
)


def is_stale_connection(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps) is one of ``STALE_CONNECTION_FAULTS``."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, STALE_CONNECTION_FAULTS):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    engine = _create_engine(url, settings)
    # SQLAlchemy discards its whole pool after a disconnect it recognises; a read-only server
    # is not one of those for its dialect, and is treated alike here (the statement pool does
    # the same in ``pooled_statements``).
    event.listen(engine.sync_engine, "handle_error", _stale_is_disconnect)
    return engine


def _stale_is_disconnect(context: ExceptionContext) -> None:
    if not context.is_disconnect and is_stale_connection(context.original_exception):
        context.is_disconnect = True


def _create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # No ping before each checkout (a round trip on every request): a connection the
        # server dropped fails its statement, which answers 503 with Retry-After, and
        # SQLAlchemy then discards the whole pool, so the retry gets fresh connections.
        pool_pre_ping=False,
        pool_recycle=POOL_RECYCLE_SECONDS,
        # A logged database error must not carry the statement's values (a NIK, say).
        hide_parameters=True,
        pool_timeout=settings.db_pool_timeout_seconds,
        async_creator=_connector(url, settings),
    )


def _connector(url: str, settings: Settings) -> Callable[[], Awaitable[asyncpg.Connection]]:
    """How the pool opens a connection: with every wait bounded, and PostgreSQL's own
    statement timeout on the session."""
    dsn = asyncpg_dsn(url)
    server_settings = {
        **SERVER_SETTINGS,
        "statement_timeout": str(settings.db_statement_timeout_ms),
    }

    async def connect() -> asyncpg.Connection:
        try:
            return await asyncpg.connect(
                dsn,
                server_settings=server_settings,
                timeout=settings.db_connect_timeout_seconds,
                command_timeout=settings.db_command_timeout_seconds,
            )
        except OSError as error:
            # A socket that is gone or refuses (the server stopped) surfaces as a bare
            # FileNotFoundError or ConnectionRefusedError, which says nothing of a database.
            raise DatabaseUnreachable(type(error).__name__) from error

    return connect


# A pooled connection for statements that stand alone, outside any transaction.
OneStatement = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


def one_statement_connections(engine: AsyncEngine) -> OneStatement:
    """Connections from the engine's pool for reads of a single statement: one statement sees
    one snapshot and commits by itself, so it needs neither BEGIN nor COMMIT (two round trips
    that cost as much as the read). Nothing is sent on checkout or return (the pool's rollback
    on return does nothing outside a transaction)."""

    @asynccontextmanager
    async def connection() -> AsyncIterator[asyncpg.Connection]:
        async with engine.connect() as pooled:
            raw = (await pooled.get_raw_connection()).driver_connection
            assert raw is not None
            yield raw

    return connection


async def create_statement_pool(url: str, settings: Settings) -> asyncpg.Pool:
    """asyncpg's own pool for reads of one statement (``pooled_statements``): opened with the
    engine's connector (the same timeouts and server settings). Connections are opened when
    first needed, as the engine's are: no floor to keep, so no background task reconnecting
    (with a traceback in the log) while the database is away."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        min_size=0,
        max_size=settings.db_statement_pool_size,
        connect=cast(Any, _pool_connector(url, settings)),
        # Nothing to reset: these connections only ever run one statement outside a
        # transaction, never LISTEN, lock or SET (the default reset is one round trip).
        reset=_nothing_to_reset,
        # No timer armed on every release to close idle connections: the pool keeps what it
        # opened, as the engine's does. Their lifetime is bounded by ``recycle_statement_pool``
        # (and asyncpg's ``max_queries``, 50,000 statements a connection).
        max_inactive_connection_lifetime=0,
    )
    return pool


async def close_statement_pool(
    pool: asyncpg.Pool, recycling: asyncio.Task[None] | None, grace: float
) -> None:
    """Closes the pool at shutdown: reads still running get ``grace`` seconds to finish, then
    the connections are terminated (a closing pool otherwise waits for them without end)."""
    if recycling is not None:
        recycling.cancel()
        await asyncio.wait([recycling])
    try:
        await asyncio.wait_for(pool.close(), grace)
    except TimeoutError:
        pool.terminate()


async def recycle_statement_pool(pool: asyncpg.Pool, every: float = POOL_RECYCLE_SECONDS) -> None:
    """The statement pool's ``pool_recycle``: every ``every`` seconds its connections are
    marked old, and each is replaced when next checked out or returned. One timer for the
    pool, run as a task for the application's life, instead of one armed per checkout."""
    while True:
        await asyncio.sleep(every)
        await pool.expire_connections()


def _pool_connector(url: str, settings: Settings) -> Callable[..., Awaitable[asyncpg.Connection]]:
    connect = _connector(url, settings)

    async def pool_connect(*_args: Any, **_kwargs: Any) -> asyncpg.Connection:
        return await connect()

    return pool_connect


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    return None


def pooled_statements(pool: asyncpg.Pool, settings: Settings) -> OneStatement:
    """``OneStatement`` from asyncpg's pool: one statement sees one snapshot and commits by
    itself, so a checked-out connection needs neither BEGIN nor COMMIT, and nothing is sent on
    checkout or return. A wait for a connection is bounded as the engine's is (then
    TimeoutError, a 503 like the engine's).

    An idle connection is handed over at once, so only a wait needs the timeout, which asyncpg
    runs as a task of its own (4% of a region read when paid on every checkout). An idle
    connection that must be reopened first (closed, or recycled) is bounded by the connect
    timeout instead, as a new connection of the engine's pool is (its ``pool_timeout`` bounds
    only the wait for a free one).

    After a fault that leaves the idle connections stale too (``is_stale_connection``: the
    server restarted, failed over, or turned read-only), the pool's connections are all
    replaced, as SQLAlchemy discards its pool after a disconnect."""
    timeout = settings.db_pool_timeout_seconds

    def connection() -> AbstractAsyncContextManager[asyncpg.Connection]:
        return _PooledStatement(pool, None if pool.get_idle_size() else timeout)

    return connection


class _PooledStatement:
    """``pool.acquire()`` that expires the pool's connections after a stale-connection fault
    (a class rather than a generator: nothing more than the acquire's own cost per read)."""

    __slots__ = ("_acquire", "_pool")

    def __init__(self, pool: asyncpg.Pool, timeout: float | None) -> None:
        self._pool = pool
        self._acquire = pool.acquire(timeout=timeout)

    async def __aenter__(self) -> asyncpg.Connection:
        try:
            return cast(asyncpg.Connection, await self._acquire.__aenter__())
        except BaseException as error:
            await self._expire_if_stale(error)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: Any
    ) -> None:
        try:
            await self._acquire.__aexit__(kind, error, trace)
        finally:
            if error is not None:
                await self._expire_if_stale(error)

    async def _expire_if_stale(self, error: BaseException) -> None:
        if is_stale_connection(error):
            await self._pool.expire_connections()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction: for bulk
    statements over arrays (``unnest``), which run at close to the speed of a raw insert."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    if not raw.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN with the session's first statement; a driver
        # statement sent before any would run outside the transaction and commit on its own.
        await connection.exec_driver_sql("SELECT 1")
    return raw  # type: ignore[no-any-return]


def driver_statement(session: AsyncSession, query: Select[Any]) -> tuple[str, list[Any]]:
    """``query`` as asyncpg takes it: SQL with ``$n`` placeholders, and their values. The
    query's parameters must be values asyncpg takes as they are (str, int, UUID, ...)."""
    return compiled_for_driver(query)


_DIALECT = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled once for asyncpg, run again and again with other values for its
    named ``bindparam``s: building and compiling a SQLAlchemy statement cost more than running
    it, so hot reads keep theirs (no ``IN`` lists: their length is part of the SQL)."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]

    @staticmethod
    def of(query: Select[Any]) -> DriverStatement:
        compiled = query.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        return DriverStatement(compiled.string, tuple(compiled.positiontup or ()), compiled.params)

    def parameters(self, **values: Any) -> list[Any]:
        """The values in placeholder order: ``values`` for the bindparams named so, the values
        the statement was built with for the rest."""
        merged = {**self.fixed, **values}
        return [merged[name] for name in self.names]


def compiled_for_driver(query: Select[Any]) -> tuple[str, list[Any]]:
    """``driver_statement`` without a session."""
    compiled = query.compile(
        dialect=_DIALECT,
        # ``IN`` lists as one placeholder per value, not SQLAlchemy's own expansion marker.
        compile_kwargs={"render_postcompile": True},
    )
    return compiled.string, [compiled.params[name] for name in compiled.positiontup or ()]


async def driver_rows(session: AsyncSession, query: Select[Any]) -> list[asyncpg.Record]:
    """``query``'s rows fetched by asyncpg itself, in the session's transaction: for reads of
    thousands of rows, which SQLAlchemy's result would hand over one ``fetchone`` at a time."""
    sql, parameters = driver_statement(session, query)
    connection = await driver_connection(session)
    return await connection.fetch(sql, *parameters)


def is_unstorable_value(error: BaseException) -> bool:
    """Whether PostgreSQL (or the driver, encoding an argument) refused a value itself: a date
    beyond its range, a NUL character, a number too large. That is the client's input, never
    a fault of the service; the error chain is walked because SQLAlchemy wraps the driver's."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, sqlalchemy.exc.DataError | asyncpg.exceptions.DataError):
            return True
        if isinstance(seen, asyncpg.exceptions._base.DataError):  # argument encoding
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False
