"""Retention of the change feed: pruning old events, and the answer to a cursor older than that.
Runs on a database of its own, since pruning takes every old event, whoever wrote it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import col

from api.app import create_app
from service.changes.retention import prune_changes
from service.changes.tables import ChangeEvent
from service.database import async_url, create_session_factory
from service.settings import Settings
from tests.api.changes_feed import drain, journal_change, record_ids
from tests.conftest import prepared_database
from tests.factories import ClientFactory

VILLAGE = "33.28.02.2001"
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def own_database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


@pytest.fixture
async def own_engine(own_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(own_database))
    yield engine
    await engine.dispose()


@pytest.fixture
def own_sessions(own_engine: AsyncEngine) -> Sessions:
    return create_session_factory(own_engine)


@pytest.fixture
def own_app(
    own_database: str, own_engine: AsyncEngine, own_sessions: Sessions, settings: Settings
) -> FastAPI:
    app = create_app(settings.model_copy(update={"database_url": own_database}), own_database)
    app.state.engine = own_engine
    app.state.sessions = own_sessions
    return app


@pytest.fixture
async def own_http(own_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=own_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://own") as http:
        yield http


async def _age_all_but(sessions: Sessions, young: str, days: int) -> int:
    """Every event but ``young``'s (the reference data's too) as if written ``days`` ago."""
    async with sessions() as session, session.begin():
        aged = await session.execute(
            update(ChangeEvent)
            .where(col(ChangeEvent.record_id) != young)
            .values(occurred_at=func.now() - func.make_interval(0, 0, 0, days))
        )
    return int(aged.rowcount)  # type: ignore[attr-defined]


async def test_pruning_removes_only_events_older_than_the_retention(
    own_sessions: Sessions,
) -> None:
    async with own_sessions() as session, session.begin():
        await journal_change(session, VILLAGE)  # to be pruned
    async with own_sessions() as session, session.begin():
        young = await journal_change(session, VILLAGE)
    aged = await _age_all_but(own_sessions, young, days=40)
    async with own_sessions() as session, session.begin():
        assert await prune_changes(session, retention_days=30) == aged
    async with own_sessions() as session:
        left = (await session.scalars(select(col(ChangeEvent.record_id)))).all()
    assert list(left) == [young]


async def test_a_cursor_older_than_what_was_pruned_answers_410_with_the_way_back(
    own_sessions: Sessions,
    own_app: FastAPI,
    own_http: httpx.AsyncClient,
) -> None:
    async with own_sessions() as session:
        reader = await ClientFactory(session, own_app.state.token_keys, commit=True)(
            region=VILLAGE, scopes=["changes:read"]
        )
    _, early_cursor = await drain(own_http, reader, None)
    async with own_sessions() as session, session.begin():
        await journal_change(session, VILLAGE)  # to be pruned
    async with own_sessions() as session, session.begin():
        young = await journal_change(session, VILLAGE)
    await _age_all_but(own_sessions, young, days=40)
    async with own_sessions() as session, session.begin():
        await prune_changes(session, retention_days=30)

    expired = await own_http.get(
        "/api/v1/changes", params={"after": early_cursor}, headers=reader.headers
    )
    assert expired.status_code == 410
    assert expired.json()["code"] == "cursor_expired"
    assert "export?updated_since=" in expired.json()["detail"]
    streamed = await own_http.get(
        "/api/v1/changes/stream", params={"after": early_cursor}, headers=reader.headers
    )
    assert streamed.status_code == 410  # before anything is streamed
    assert streamed.json()["code"] == "cursor_expired"
    # Starting again without a cursor gives what is kept.
    events, _ = await drain(own_http, reader, None)
    assert record_ids(events) == [young]
