"""The DCI door answers only the HTTP errors the spec's paths list (401, 403, 500): a client
over its rate is a 403 ``err.request.too_many_requests`` (with Retry-After), not a 429."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.settings import Settings
from tests.conftest import _app_on
from tests.dci.messages import by_id, search, send
from tests.dci.spec_check import assert_response_valid
from tests.factories import ClientFactory


@pytest.fixture
def limited_app(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> FastAPI:
    small = settings.model_copy(update={"rate_limit_api_per_client": "3/minute"})
    return _app_on(small, sessions, engine, read_sessions)


async def test_a_client_over_its_rate_is_refused_with_the_specs_403(
    limited_app: FastAPI, session: AsyncSession
) -> None:
    clients = ClientFactory(session, limited_app.state.token_keys)
    busy = await clients(region="33.26.06", scopes=["kpm:read"])
    transport = httpx.ASGITransport(app=limited_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for _ in range(3):
            answer = await send(http, "/registry/sync/search", search(by_id("NIK", "1" * 16)), busy)
            assert answer.status == 200
        limited = await http.post(
            "/dci/registry/sync/search",
            json=search(by_id("NIK", "1" * 16)),
            headers=busy.headers,
        )
    assert limited.status_code == 403
    assert_response_valid("/registry/sync/search", 403, limited.json())
    assert limited.json()["errors"][0]["code"] == "err.request.too_many_requests"
    assert int(limited.headers["retry-after"]) >= 1
