"""Two ``dinsos worker`` processes against one database: every event reaches every
subscription exactly once, in feed order, while writers commit concurrently."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.changes.tables import ChangeEvent
from service.connections import asyncpg_dsn
from service.webhooks.subscriptions import new_secret
from service.webhooks.tables import WebhookDelivery
from tests.webhooks.conftest import subscribe, write_changes
from tests.webhooks.receiver import Received, Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

DINSOS = Path(sys.executable).parent / "dinsos"
WRITERS = 4
CHANGES_PER_WRITER = 25
SUBSCRIPTIONS = 3


async def start_worker(database_url: str, folder: Path, name: str) -> asyncio.subprocess.Process:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DINSOS_DATABASE_URL")
    }
    environment.update(
        {
            "DATABASE_URL": database_url,
            "DINSOS_DATA_DIR": str(folder),
            "DINSOS_WEBHOOK_ALLOW_HTTP": "true",
            "DINSOS_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "DINSOS_WEBHOOK_POLL_SECONDS": "1",
            "DINSOS_WEBHOOK_BATCH_SIZE": "10",
        }
    )
    log = (folder / f"{name}.log").open("w")
    return await asyncio.create_subprocess_exec(
        str(DINSOS), "worker", env=environment, stdout=log, stderr=log
    )


async def wait_for_listeners(database_url: str, count: int) -> None:
    """Until ``count`` dispatchers hold their lock-and-listen connection (looked at every
    100 ms: a starting process sends no signal)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with asyncio.timeout(60):
            while True:
                connected = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'dinsos-webhooks' AND datname = current_database()"
                )
                if connected >= count:
                    return
                await asyncio.sleep(0.1)
    finally:
        await connection.close()


async def test_two_worker_processes_deliver_each_event_once_and_in_order(
    webhook_database: str,
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    secret = new_secret()
    receiver.secrets = {"secret": secret}

    in_flight: dict[str, int] = {}
    most_in_flight: dict[str, int] = {}

    async def a_little_slow(message: Received) -> int:
        # A slow receiver widens the window in which a second sender could overlap.
        in_flight[message.path] = in_flight.get(message.path, 0) + 1
        most_in_flight[message.path] = max(
            most_in_flight.get(message.path, 0), in_flight[message.path]
        )
        await asyncio.sleep(random.uniform(0, 0.01))
        in_flight[message.path] -= 1
        return 200

    receiver.answer = a_little_slow
    paths = [f"mirror-{number}" for number in range(SUBSCRIPTIONS)]
    subscriptions = [
        await subscribe(committed, receiver.url(path), secret=secret) for path in paths
    ]
    workers = [await start_worker(webhook_database, tmp_path, f"worker-{n}") for n in (1, 2)]
    try:
        await wait_for_listeners(webhook_database, 2)
        # Concurrent writers: commit order and transaction-id order differ.
        await asyncio.gather(
            *(write_changes(committed, CHANGES_PER_WRITER) for _ in range(WRITERS))
        )
        total = WRITERS * CHANGES_PER_WRITER
        await receiver.wait_until(
            lambda: all(len(receiver.accepted(path)) >= total for path in paths), timeout=120
        )
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(worker.wait(), timeout=30) for worker in workers]
    assert codes == [0, 0]  # a graceful stop
    # Never two requests of one subscription at once.
    assert most_in_flight == dict.fromkeys(paths, 1)

    async with committed() as session:
        for subscription, path in zip(subscriptions, paths, strict=True):
            feed_order = list(
                await session.scalars(
                    select(col(ChangeEvent.record_id))
                    .join(WebhookDelivery, col(WebhookDelivery.event_id) == col(ChangeEvent.id))
                    .where(col(WebhookDelivery.subscription_id) == subscription.id)
                    .order_by(col(WebhookDelivery.txid), col(WebhookDelivery.event_id))
                )
            )
            arrived = receiver.at(path)
            assert len(feed_order) == total
            # Exactly once each: as many requests as events, no webhook-id twice.
            assert len(arrived) == total
            assert len({message.message_id for message in arrived}) == total
            assert [message.record_id for message in arrived] == feed_order
            assert all(message.verified_by == ["secret"] for message in arrived)
