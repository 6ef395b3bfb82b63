"""Running a command's work in one committed transaction on the configured (or embedded) database.

``in_transaction`` gives the work an ORM session; ``on_plain_connection`` a plain asyncpg
connection, for the service functions written on one. SQLAlchemy is imported only by the first,
so a command that needs only the second starts in half the time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from service.database_url import resolve_database_url, stop_embedded_database
from service.errors import DomainError
from service.settings import get_settings

if TYPE_CHECKING:
    import asyncpg
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


def in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction; a domain error exits 1 with its message."""
    from service.database import create_engine, create_session_factory

    settings = get_settings()

    async def run() -> T:
        engine = create_engine(resolve_database_url(settings), settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return _run_command(run)


def on_plain_connection(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """``in_transaction`` on a plain asyncpg connection, without SQLAlchemy."""
    from service.connections import connect

    settings = get_settings()

    async def run() -> T:
        connection = await connect(resolve_database_url(settings))
        try:
            async with connection.transaction():
                return await work(connection)
        finally:
            await connection.close()

    return _run_command(run)


def _run_command(run: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(run())
    except DomainError as error:
        details = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
        typer.secho(f"{error.detail} {details}".strip(), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    finally:
        stop_embedded_database()
