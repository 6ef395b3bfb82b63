"""The dispatcher runs inside the service (its lifespan) unless the operator turns it off."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from service.connections import asyncpg_dsn
from tests.webhooks.conftest import subscribe, webhook_settings, write_changes
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def dispatcher_connections(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'dinsos-webhooks' AND datname = current_database()"
            )
        )
    finally:
        await connection.close()


async def test_the_service_delivers_webhooks_while_it_runs(
    webhook_database: str,
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    app = create_app(webhook_settings(webhook_database, tmp_path))
    await subscribe(committed, receiver.url("served"))
    async with app.router.lifespan_context(app):
        written = await write_changes(committed, 2)
        await receiver.wait_until(lambda: len(receiver.accepted("served")) == 2)
        assert await dispatcher_connections(webhook_database) == 1
    assert [m.record_id for m in receiver.at("served")] == written
    # Stopped with the service: its lock-and-listen connection is closed.
    assert await dispatcher_connections(webhook_database) == 0


async def test_a_service_without_its_dispatcher_leaves_the_sending_to_workers(
    webhook_database: str, tmp_path: Path
) -> None:
    app = create_app(webhook_settings(webhook_database, tmp_path, webhook_dispatcher=False))
    async with app.router.lifespan_context(app):
        assert await dispatcher_connections(webhook_database) == 0
