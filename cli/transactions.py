"""Running a command's work on the configured (or embedded) database.

Imported inside the commands, never at the top of a command module: it pulls in SQLAlchemy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.database import create_engine, create_session_factory
from service.database_url import resolve_database_url, stop_embedded_database
from service.errors import DomainError
from service.settings import get_settings

T = TypeVar("T")


def in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction; a domain error exits 1 with its message."""
    settings = get_settings()

    async def run() -> T:
        engine = create_engine(resolve_database_url(settings), settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DomainError as error:
        details = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
        typer.secho(f"{error.detail} {details}".strip(), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    finally:
        stop_embedded_database()
