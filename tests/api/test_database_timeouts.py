"""The bounded waits of the service's engine, each met for real: a statement over PostgreSQL's
statement_timeout (a table locked by another transaction) and a pool with no free connection.
Both doors answer them as a database that cannot serve now (503 with Retry-After on REST,
``database_unavailable`` on GraphQL), and neither is logged as an unexpected failure."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from service.connections import asyncpg_dsn
from service.database import create_engine, create_session_factory
from service.settings import Settings
from tests.conftest import _app_on
from tests.factories import ClientFactory, IssuedClient

PROBLEM = "application/problem+json"


@pytest.fixture
async def bounded_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app on the service's own engine, with short waits and a pool of two connections."""
    bounded = settings.model_copy(
        update={
            "db_pool_size": 2,
            "db_max_overflow": 0,
            "db_pool_timeout_seconds": 0.5,
            "db_statement_timeout_ms": 300,
        }
    )
    assert bounded.database_url is not None
    engine = create_engine(bounded.database_url, bounded)
    try:
        yield _app_on(bounded, create_session_factory(engine), engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def bounded_http(bounded_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=bounded_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def caller(bounded_app: FastAPI) -> IssuedClient:
    async with bounded_app.state.sessions() as session:
        return await ClientFactory(session, bounded_app.state.token_keys, commit=True)()


@asynccontextmanager
async def program_locked(settings: Settings) -> AsyncIterator[None]:
    """Another transaction holds the program table, as a long migration or a stuck writer
    would: every read of it waits until the statement timeout cancels it."""
    assert settings.database_url is not None
    holder = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE program IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        await transaction.rollback()
        await holder.close()


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "5"
    assert response.json()["code"] == "database_unavailable"


def _unexpected(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR or record.exc_info
    ]


async def test_a_statement_over_the_timeout_answers_503(
    settings: Settings,
    bounded_http: httpx.AsyncClient,
    caller: IssuedClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with program_locked(settings):
        _assert_unavailable(await bounded_http.get("/api/v1/programs", headers=caller.headers))
        answer = await bounded_http.post(
            "/graphql", json={"query": "{ programs { items { code } } }"}, headers=caller.headers
        )
    assert answer.status_code == 200
    [error] = answer.json()["errors"]
    assert error["extensions"]["code"] == "database_unavailable"
    assert error["extensions"]["status"] == 503
    assert error["message"] == "The database is not reachable; try again shortly."
    assert _unexpected(caplog) == []
    # The timeout cancelled the waiting statements, not the connections: the pool's
    # connections serve the same reads once the table is free.
    assert (await bounded_http.get("/api/v1/programs", headers=caller.headers)).status_code == 200
    answer = await bounded_http.post(
        "/graphql", json={"query": "{ programs { items { code } } }"}, headers=caller.headers
    )
    assert "errors" not in answer.json()


async def test_a_full_pool_answers_503_after_the_pool_timeout(
    bounded_app: FastAPI,
    bounded_http: httpx.AsyncClient,
    caller: IssuedClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = bounded_app.state.engine
    async with engine.connect(), engine.connect():  # the pool's connections, held
        _assert_unavailable(await bounded_http.get("/api/v1/programs", headers=caller.headers))
        answer = await bounded_http.post(
            "/graphql", json={"query": '{ region(code: "33.28") { name } }'}, headers=caller.headers
        )
        _assert_unavailable(answer)  # the token check itself found no connection
    assert _unexpected(caplog) == []
    # Given back, the connection serves the next request.
    assert (await bounded_http.get("/api/v1/programs", headers=caller.headers)).status_code == 200
