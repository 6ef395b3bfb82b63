from __future__ import annotations

import logging
import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from service.database import async_url
from tests.conftest import create_database, drop_database
from tests.factories import ClientFactory


async def test_health(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_ready_when_migrated(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "at_head"}


async def test_not_ready_on_an_unmigrated_database(
    app: FastAPI, http: httpx.AsyncClient, server_url: str
) -> None:
    name = "dinsos_unmigrated"
    url = await create_database(server_url, name)
    engine = create_async_engine(async_url(url))
    app.state.engine = engine
    try:
        response = await http.get("/readyz")
    finally:
        await engine.dispose()
        await drop_database(server_url, name)
    assert response.status_code == 503
    assert response.json()["migrations"] == "missing"


async def test_not_ready_when_the_database_is_unreachable(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app.state.engine = engine
    try:
        response = await http.get("/readyz")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


async def test_metrics_count_requests_by_route(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    await http.get("/api/v1/regions/3328", headers=client.headers)
    metrics = (await http.get("/metrics")).text
    assert (
        'dinsos_http_requests_total{method="GET",route="/api/v1/regions/{code}",status="200"}'
        in (metrics)
    )
    assert "dinsos_http_request_duration_seconds_bucket" in metrics


async def test_graphql_requests_are_counted_under_their_path(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    query = {"query": '{ region(code: "33.28") { code } }'}
    for _ in range(2):  # through the router, then through the hot route it taught
        answer = await http.post("/graphql", json=query, headers=client.headers)
        assert answer.status_code == 200, answer.text
    metrics = (await http.get("/metrics")).text
    found = re.search(
        r'dinsos_http_requests_total\{method="POST",route="/graphql",status="200"\} ([0-9.]+)',
        metrics,
    )
    assert found is not None
    assert float(found.group(1)) >= 2
    assert 'route=""' not in metrics


async def test_access_log_has_request_id_and_no_query_string(
    http: httpx.AsyncClient, clients: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = await clients()
    with caplog.at_level(logging.INFO, logger="dinsos.access"):
        response = await http.get(
            "/api/v1/regions",
            params={"name": "3328021234560001"},  # NIK-shaped: must not reach the log
            headers={**client.headers, "X-Request-ID": "trace-42"},
        )
    assert response.headers["x-request-id"] == "trace-42"
    records = [r for r in caplog.records if r.name == "dinsos.access"]
    assert [(r.__dict__["route"], r.__dict__["status"]) for r in records] == [
        ("/api/v1/regions", 200)
    ]
    assert "3328021234560001" not in caplog.text
