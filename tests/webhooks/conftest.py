"""Fixtures of the webhook tests: a database of their own (dispatchers send for every
subscription in a database, so other tests' subscriptions must not be there), committed
writes, a receiver, and a dispatcher running in the test's loop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import col

from service.auth.clients import create_client, operator
from service.database import async_url, create_session_factory
from service.settings import Settings
from service.webhooks.dispatcher import Dispatcher
from service.webhooks.subscriptions import new_secret
from service.webhooks.tables import WebhookSubscription
from tests.api.changes_feed import journal_change
from tests.conftest import prepared_database
from tests.webhooks.receiver import Receiver, running_receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

VILLAGE = "33.28.02.2001"


@pytest.fixture(scope="module")
async def webhook_database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


@pytest.fixture(scope="module")
async def webhook_engine(webhook_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(webhook_database))
    yield engine
    await engine.dispose()


@pytest.fixture
async def committed(
    webhook_engine: AsyncEngine,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions whose transactions commit; the test's subscriptions are deleted at its end, so
    the next test's dispatcher has nothing left of them to send."""
    sessions = create_session_factory(webhook_engine)
    yield sessions
    async with sessions() as session, session.begin():
        await session.execute(
            update(WebhookSubscription)
            .where(col(WebhookSubscription.deleted_at).is_(None))
            .values(deleted_at=text("now()"))
        )


def webhook_settings(database_url: str, tmp_path: Any, **overrides: Any) -> Settings:
    """Settings for a dispatcher that reaches the test's loopback receiver over plain http,
    with short timeouts and retries."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "webhook_allow_http": True,
        "webhook_allow_private_targets": True,
        "webhook_connect_timeout_seconds": 1.0,
        "webhook_read_timeout_seconds": 1.0,
        "webhook_write_timeout_seconds": 1.0,
        "webhook_retry_base_seconds": 0.05,
        "webhook_retry_max_seconds": 0.2,
        "webhook_retry_window_seconds": 3600.0,
        "webhook_poll_seconds": 1.0,
        "shutdown_grace_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


DispatcherRunner = Callable[..., AbstractAsyncContextManager[Dispatcher]]


@pytest.fixture
def dispatching(webhook_database: str, tmp_path: Any) -> DispatcherRunner:
    """``async with dispatching(**settings):`` a dispatcher runs in the test's loop."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Dispatcher]:
        dispatcher = Dispatcher(
            webhook_database, webhook_settings(webhook_database, tmp_path, **overrides)
        )
        task = asyncio.create_task(dispatcher.run())
        try:
            yield dispatcher
        finally:
            dispatcher.stop()
            await task

    return run


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def subscribe(
    sessions: async_sessionmaker[AsyncSession],
    url: str,
    *,
    region: str | None = VILLAGE,
    scopes: tuple[str, ...] = ("changes:read", "webhooks:manage"),
    secret: str | None = None,
    previous_secret: str | None = None,
    previous_secret_expires_at: datetime | None = None,
    status: str = "active",
) -> WebhookSubscription:
    """A committed subscription of a new client (as the subscription API stores one)."""
    async with sessions() as session, session.begin():
        created = await create_client(
            session,
            operator(),
            name=f"webhook client {uuid.uuid4().hex[:6]}",
            scopes=list(scopes),
            region_code=region,
        )
        subscription = WebhookSubscription(
            client_id=created.client.id,
            url=url,
            secret=secret or new_secret(),
            previous_secret=previous_secret,
            previous_secret_expires_at=previous_secret_expires_at,
            status=status,
        )
        session.add(subscription)
    return subscription


async def write_changes(
    sessions: async_sessionmaker[AsyncSession], count: int, region: str = VILLAGE
) -> list[str]:
    """``count`` committed changes, one transaction each, through the journal every writer
    uses (the outbox trigger queues their deliveries); their record ids in commit order."""
    ids = []
    for _ in range(count):
        async with sessions() as session, session.begin():
            ids.append(await journal_change(session, region))
    return ids
