"""Long polling and a held-back feed, on committed data and separate connections."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.database import create_session_factory
from tests.api.changes_feed import drain, journal_change, record_ids
from tests.factories import ClientFactory

VILLAGE = "33.28.02.2001"


@pytest.fixture
async def listening_app(live_app: FastAPI) -> AsyncIterator[FastAPI]:
    yield live_app
    signal = getattr(live_app.state, "change_signal", None)
    if signal is not None:
        await signal.close()


async def test_a_waiting_reader_is_answered_as_soon_as_a_change_is_committed(
    listening_app: FastAPI,
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    started = time.monotonic()
    waiting = asyncio.create_task(
        live_http.get(
            "/api/v1/changes", params={"after": cursor, "wait": 20}, headers=reader.headers
        )
    )
    await asyncio.sleep(0.5)
    assert not waiting.done()
    async with create_session_factory(engine)() as session, session.begin():
        record_id = await journal_change(session, VILLAGE)
    response = await asyncio.wait_for(waiting, timeout=25)
    # Woken by the commit, well before the wait ran out (with room for a moment in which a
    # transaction elsewhere on the server holds the feed back).
    assert time.monotonic() - started < 10
    assert record_ids(response.json()["items"]) == [record_id]


async def test_a_wait_with_no_change_ends_with_an_empty_page_and_a_cursor(
    listening_app: FastAPI, live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    reader = await live_clients(region="33.28.02.2002", scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    started = time.monotonic()
    response = await live_http.get(
        "/api/v1/changes", params={"after": cursor, "wait": 1}, headers=reader.headers
    )
    assert time.monotonic() - started >= 1
    assert response.json()["items"] == []
    assert response.json()["next_cursor"]


async def test_a_long_transaction_holding_the_feed_back_is_visible(
    live_app: FastAPI,
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    live_app.state.settings = live_app.state.settings.model_copy(
        update={"change_feed_stall_warning_seconds": 0.5}
    )
    reader = await live_clients(region=None, scopes=["changes:read"])
    async with create_session_factory(engine)() as slow:
        await slow.begin()
        await journal_change(slow, VILLAGE)
        await asyncio.sleep(1.0)
        with caplog.at_level(logging.WARNING, logger="dinsos.changes"):
            await drain(live_http, reader, None)
        metrics = (await live_http.get("/metrics")).text
        await slow.rollback()
    (gauge,) = [
        line for line in metrics.splitlines() if line.startswith("dinsos_change_feed_held_back")
    ]
    assert float(gauge.split()[-1]) >= 1.0
    assert any("held back" in record.getMessage() for record in caplog.records)


async def test_a_waiting_reader_gets_a_held_back_change_once_the_older_writer_ends(
    listening_app: FastAPI,
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
) -> None:
    """The change is notified while an older transaction, which writes no change event (so
    sends no notification when it ends), still holds it back: the reader is answered once that
    transaction ends, not when its wait runs out."""
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    async with engine.connect() as older:
        await older.begin()
        await older.execute(text("SELECT pg_current_xact_id()"))  # a writer, as the feed sees it
        waiting = asyncio.create_task(
            live_http.get(
                "/api/v1/changes", params={"after": cursor, "wait": 25}, headers=reader.headers
            )
        )
        async with create_session_factory(engine)() as session, session.begin():
            record_id = await journal_change(session, VILLAGE)
        await asyncio.sleep(1.0)
        assert not waiting.done()  # held back: the older transaction is still running
        await older.rollback()
        ended = time.monotonic()
    response = await asyncio.wait_for(waiting, timeout=30)
    assert time.monotonic() - ended < 5
    assert record_ids(response.json()["items"]) == [record_id]
