"""``dinsos migrate`` and ``dinsos demo``, and the start-up steps ``serve`` shares with them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from service.runtime import DemoCredentials


async def prepare(url: str) -> None:
    """Migrations to head, then the reference data (regions, seeded programs)."""
    from service.database import create_engine, create_session_factory
    from service.runtime import load_reference_data, migrate
    from service.settings import get_settings

    await migrate(url)
    engine = create_engine(url, get_settings())
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await load_reference_data(session)
    finally:
        await engine.dispose()


def demo_credentials(url: str) -> DemoCredentials | None:
    """The demo client on the embedded default (created on first start), else None."""
    from service.database import create_engine, create_session_factory
    from service.runtime import ensure_demo_client
    from service.settings import get_settings

    settings = get_settings()

    async def run() -> DemoCredentials | None:
        engine = create_engine(url, settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                return await ensure_demo_client(session, settings)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def load_demo_data(url: str, *, only_if_empty: bool) -> bool:
    from service.database import create_engine, create_session_factory
    from service.demo.loader import database_is_empty, load_demo
    from service.settings import get_settings

    async def run() -> bool:
        engine = create_engine(url, get_settings())
        sessions = create_session_factory(engine)
        try:
            if only_if_empty and not await database_is_empty(sessions):
                return False
            typer.echo("Loading the demo data (the field stories of Tegal, Klaten, ...):")
            return await load_demo(sessions, report=lambda line: typer.echo(f"  {line}"))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def demo() -> None:
    """Load the demo data: the five field stories, with their real numbers. Loads once;
    running it again changes nothing."""
    from service.database_url import resolve_database_url, stop_embedded_database
    from service.settings import get_settings

    try:
        url = resolve_database_url(get_settings())
        asyncio.run(prepare(url))
        load_demo_data(url, only_if_empty=False)
    finally:
        stop_embedded_database()


def migrate() -> None:
    """Apply the migrations and load the reference data (regions, seeded programs)."""
    from service.database_url import resolve_database_url, stop_embedded_database
    from service.settings import get_settings

    try:
        asyncio.run(prepare(resolve_database_url(get_settings())))
    finally:
        stop_embedded_database()
    typer.echo("Database at head; regions and programs loaded.")
