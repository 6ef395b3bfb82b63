"""``dinsos prune-changes``: the change feed's retention, for cron or a scheduled job."""

from __future__ import annotations

import asyncio

import typer


def prune_changes() -> None:
    """Remove change events older than DINSOS_CHANGE_RETENTION_DAYS (30 by default), and the DCI
    callbacks settled before then. Run it daily; a feed reader whose cursor is older than what
    was removed is told to start again."""
    from service.changes.retention import prune_changes as prune
    from service.database import create_engine, create_session_factory
    from service.database_url import resolve_database_url, stop_embedded_database
    from service.dci.deliveries import prune_settled_messages
    from service.settings import get_settings

    settings = get_settings()

    async def run(url: str) -> tuple[int, int]:
        engine = create_engine(url, settings)
        days = settings.change_retention_days
        try:
            async with create_session_factory(engine)() as session, session.begin():
                removed = await prune(session, retention_days=days)
                callbacks = await prune_settled_messages(session, retention_days=days)
                return removed, callbacks
        finally:
            await engine.dispose()

    try:
        removed, callbacks = asyncio.run(run(resolve_database_url(settings)))
    finally:
        stop_embedded_database()
    typer.echo(
        f"Removed {removed} change events and {callbacks} DCI callbacks older than "
        f"{settings.change_retention_days} days."
    )
