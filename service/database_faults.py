"""Which failures mean "the database cannot serve right now" (worth a retry), as opposed to a
bug: every door answers those alike (503 with Retry-After on REST, ``database_unavailable``
on GraphQL), and background loops wait and try again instead of dying."""

from __future__ import annotations

import asyncpg
import sqlalchemy.exc


class DatabaseUnreachable(ConnectionError):
    """A new connection to the database could not be opened."""


# Raised as they are (not wrapped by SQLAlchemy): the pool's wait for a connection, asyncpg's
# ``command_timeout`` and connect ``timeout`` (the builtin TimeoutError), and the driver's
# own errors when a service talks to asyncpg directly (bulk reads and writes).
DATABASE_FAULTS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    TimeoutError,
    ConnectionError,
    # PostgreSQL's statement_timeout (QueryCanceledError), a shutdown or a server still
    # starting (AdminShutdown, CannotConnectNow): all operator interventions.
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    # A server that turned read-only (SQLSTATE 25006): after a failover, connections still on
    # the old primary, now a standby, until they are replaced (both pools replace them).
    asyncpg.exceptions.ReadOnlySQLTransactionError,
)


def is_database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps: SQLAlchemy keeps the driver's error in ``orig``)
    says the database is away, stalled or too slow, rather than that a statement is wrong."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, DATABASE_FAULTS):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False
