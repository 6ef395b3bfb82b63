"""Rate limits: the token endpoint per address and per client id, the API per client, 429
problem+json with Retry-After (issue 10, defect 3)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.errors import TooManyRequests
from service.rate_limits import RateLimits
from service.settings import Settings
from tests.conftest import _app_on
from tests.factories import ClientFactory

REGION_URL = "/api/v1/regions/33.28"


@pytest.fixture
def limited_app(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> FastAPI:
    small = settings.model_copy(
        update={
            "rate_limit_token_per_address": "6/minute",
            "rate_limit_token_per_client": "3/minute",
            "rate_limit_api_per_client": "4/minute",
        }
    )
    return _app_on(small, sessions, engine, read_sessions)


async def _door(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def http_a(limited_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _door(limited_app, "192.0.2.1"):
        yield client


@pytest.fixture
async def http_b(limited_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _door(limited_app, "192.0.2.2"):
        yield client


@pytest.fixture
def limited_clients(session: AsyncSession, limited_app: FastAPI) -> ClientFactory:
    return ClientFactory(session, limited_app.state.token_keys)


async def _token(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


def _assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_wrong_secrets_for_one_client_are_limited_even_the_right_one_after(
    http_a: httpx.AsyncClient, http_b: httpx.AsyncClient, limited_clients: ClientFactory
) -> None:
    client = await limited_clients(scopes=["kpm:read"])
    other = await limited_clients(scopes=["kpm:read"])
    # Three tries per client a minute, from whichever address: two addresses, one count.
    wrong = [await _token(http, client.client_id, "wrong-secret") for http in (http_a, http_b)]
    assert [response.status_code for response in wrong] == [401, 401]
    assert (await _token(http_a, client.client_id, client.secret)).status_code == 200

    _assert_limited(await _token(http_b, client.client_id, "wrong-secret"))
    # The right secret is refused too while the client is limited.
    _assert_limited(await _token(http_a, client.client_id, client.secret))
    # Another client, same addresses: its own count.
    assert (await _token(http_a, other.client_id, other.secret)).status_code == 200


async def test_one_address_is_limited_across_client_ids(
    http_a: httpx.AsyncClient, http_b: httpx.AsyncClient, limited_clients: ClientFactory
) -> None:
    client = await limited_clients(scopes=["kpm:read"])
    # Unknown ids cost no hash, but they count against the address: six a minute.
    for _ in range(6):
        unknown = await _token(http_a, str(uuid.uuid4()), "guess")
        assert unknown.status_code == 401
    _assert_limited(await _token(http_a, str(uuid.uuid4()), "guess"))
    # A real client with its right secret, from the limited address: refused as well ...
    _assert_limited(await _token(http_a, client.client_id, client.secret))
    # ... and served from another address.
    assert (await _token(http_b, client.client_id, client.secret)).status_code == 200


async def test_api_requests_are_limited_per_client(
    http_a: httpx.AsyncClient, limited_clients: ClientFactory
) -> None:
    busy = await limited_clients(scopes=["kpm:read"])
    quiet = await limited_clients(scopes=["kpm:read"])
    for _ in range(4):
        read = await http_a.get(REGION_URL, headers=busy.headers)
        assert read.status_code == 200
        assert read.json()["code"] == "33.28"
    _assert_limited(await http_a.get(REGION_URL, headers=busy.headers))
    # GraphQL is the same API: the same count, refused outright like a bad token.
    _assert_limited(
        await http_a.post(
            "/graphql", json={"query": '{ region(code: "33.28") { name } }'}, headers=busy.headers
        )
    )
    # Another client of the same address is not affected.
    assert (await http_a.get(REGION_URL, headers=quiet.headers)).status_code == 200


async def test_429_is_documented_with_retry_after(limited_app: FastAPI) -> None:
    paths = limited_app.openapi()["paths"]
    for path, method in (("/oauth/token", "post"), ("/api/v1/kpm", "get"), (REGION_URL, "get")):
        operation = paths.get(path, paths.get("/api/v1/regions/{code}"))[method]
        answer = operation["responses"]["429"]
        assert "Retry-After" in answer["headers"]
        assert "application/problem+json" in answer["content"]


def test_rate_settings_parse_and_refuse_nonsense() -> None:
    settings = Settings(
        rate_limit_api_per_client="5 per second",
        rate_limit_token_per_client="",
        rate_limit_storage="redis://127.0.0.1:6379",
    )
    assert settings.rate_limit_api_per_client == "5 per second"
    assert settings.rate_limit_token_per_client == ""  # off
    with pytest.raises(ValidationError, match="rate_limit_token_per_address"):
        Settings(rate_limit_token_per_address="often")


async def test_a_shared_store_that_cannot_answer_lets_requests_pass(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    session: AsyncSession,
) -> None:
    # Nothing listens on port 1: every count fails at once. The API stays up, uncounted.
    unreachable = settings.model_copy(
        update={"rate_limit_storage": "redis://127.0.0.1:1", "rate_limit_api_per_client": "1/hour"}
    )
    app = _app_on(unreachable, sessions, engine)
    client = await ClientFactory(session, app.state.token_keys)(scopes=["kpm:read"])
    async for http in _door(app, "192.0.2.3"):
        reads = [await http.get(REGION_URL, headers=client.headers) for _ in range(3)]
        assert [read.status_code for read in reads] == [200, 200, 200]
        assert (await _token(http, client.client_id, client.secret)).status_code == 200


async def test_counters_in_memory_expire_and_their_memory_is_freed(settings: Settings) -> None:
    """A real window of one second: the refused caller is served again once it has passed, and
    the store's sweeper drops the expired entries and counters (memory bounded by the callers
    of the last window, not of the process's life)."""
    rates = RateLimits(
        settings.model_copy(
            update={
                "rate_limit_storage": "memory://",
                "rate_limit_token_per_address": "2/second",
                "rate_limit_api_per_client": "2/second",
            }
        )
    )
    store = rates.storage_in_memory()
    assert store is not None
    try:
        for _ in range(2):
            await rates.hit_token_address("192.0.2.7")
            await rates.hit_api("client-7")
        with pytest.raises(TooManyRequests):
            await rates.hit_token_address("192.0.2.7")
        with pytest.raises(TooManyRequests):
            await rates.hit_api("client-7")
        assert store.events  # what the sweeper will have to drop
        assert store.storage

        # Wait (bounded) until the sweeper thread has dropped everything: the moving window's
        # entries after one second, the sliding counters after their two.
        for _ in range(100):
            if not store.events and not store.storage and not store.expirations:
                break
            await asyncio.sleep(0.1)
        assert (store.events, dict(store.storage), store.expirations) == ({}, {}, {})
        assert not store.locks

        # And the callers are served again.
        await rates.hit_token_address("192.0.2.7")
        await rates.hit_api("client-7")
    finally:
        await rates.close()


async def test_many_stores_share_one_sweeper_thread(settings: Settings) -> None:
    """Every store of the process is swept by one thread: a process that made a store per
    application (the test suite makes one per test) once had a sweeper thread each, hundreds of
    them waking every second, and the event loop waited on each for the interpreter's lock."""
    memory = settings.model_copy(update={"rate_limit_storage": "memory://"})
    stores = [RateLimits(memory) for _ in range(20)]
    try:
        for number, rates in enumerate(stores):
            await rates.hit_api(f"client-{number}")
        sweepers = [t for t in threading.enumerate() if t.name == "rate-limit-expiry"]
        assert len(sweepers) == 1
        assert sweepers[0].is_alive()
    finally:
        for rates in stores:
            await rates.close()
