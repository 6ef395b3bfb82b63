"""Rate limits counted in the service's own PostgreSQL (``DINSOS_RATE_LIMIT_STORAGE=
postgresql``): several replicas on one database grant a caller the rate once between them,
not once each (issue 10, defect 3). The counts are committed rows of ``rate_limit_count``
(outside the test's transaction, as a replica's are), so each test counts keys of its own:
new client ids and addresses."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.errors import TooManyRequests
from service.rate_limits import RateLimits
from service.settings import Settings
from tests.api.test_rate_limits import REGION_URL, _assert_limited, _door, _token
from tests.conftest import _app_on
from tests.factories import ClientFactory

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


def _shared(settings: Settings, **rates: str) -> Settings:
    return settings.model_copy(update={"rate_limit_storage": "postgresql", **rates})


def _address() -> str:
    """An address no other test (nor an earlier run, inside its window) has counted."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.fixture
async def replicas(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two applications built from the same settings, as two replicas would be, each with its
    own rate-limit store on the one database."""
    rates = getattr(request, "param", {})
    shared = _shared(settings, **rates)
    apps = (
        _app_on(shared, sessions, engine, read_sessions),
        _app_on(shared, sessions, engine, read_sessions),
    )
    for app in apps:
        # What the application's start-up does with the database it serves.
        app.state.rate_limits.use_database(shared.database_url)
    yield apps
    for app in apps:
        await app.state.rate_limits.close()


async def _doors(
    apps: tuple[FastAPI, FastAPI], address: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async for first in _door(apps[0], address):
        async for second in _door(apps[1], address):
            yield first, second


@pytest.mark.parametrize("replicas", [{"rate_limit_api_per_client": "4/minute"}], indirect=True)
async def test_a_client_alternating_between_replicas_has_one_count(
    replicas: tuple[FastAPI, FastAPI], session: AsyncSession
) -> None:
    client = await ClientFactory(session, replicas[0].state.token_keys)(scopes=["kpm:read"])
    quiet = await ClientFactory(session, replicas[0].state.token_keys)(scopes=["kpm:read"])
    async for first, second in _doors(replicas, _address()):
        for http in (first, second, first, second):
            read = await http.get(REGION_URL, headers=client.headers)
            assert read.status_code == 200
            assert read.json()["code"] == "33.28"
        # The fifth request is refused, whichever replica it reaches.
        _assert_limited(await first.get(REGION_URL, headers=client.headers))
        _assert_limited(await second.get(REGION_URL, headers=client.headers))
        # Another client of the same replicas still has its whole rate.
        assert (await second.get(REGION_URL, headers=quiet.headers)).status_code == 200


@pytest.mark.parametrize(
    "replicas",
    [{"rate_limit_token_per_address": "4/minute", "rate_limit_token_per_client": "2/minute"}],
    indirect=True,
)
async def test_the_token_endpoint_limits_are_shared_between_replicas(
    replicas: tuple[FastAPI, FastAPI], session: AsyncSession
) -> None:
    client = await ClientFactory(session, replicas[0].state.token_keys)(scopes=["kpm:read"])
    address = _address()
    async for first, second in _doors(replicas, address):
        # Per address: four tries between the two replicas, unknown ids included.
        for http in (first, second, first, second):
            assert (await _token(http, str(uuid.uuid4()), "guess")).status_code == 401
        _assert_limited(await _token(first, client.client_id, client.secret))
        _assert_limited(await _token(second, str(uuid.uuid4()), "guess"))
    # Per client id, from fresh addresses: two tries between the replicas, then refused.
    async for first, second in _doors(replicas, _address()):
        assert (await _token(first, client.client_id, "wrong-secret")).status_code == 401
        assert (await _token(second, client.client_id, client.secret)).status_code == 200
        _assert_limited(await _token(first, client.client_id, client.secret))
        _assert_limited(await _token(second, client.client_id, client.secret))


@pytest.mark.parametrize(
    "replicas",
    [{"rate_limit_token_per_address": "2/2 seconds", "rate_limit_api_per_client": "2/2 seconds"}],
    indirect=True,
)
async def test_counts_expire_with_their_window(
    replicas: tuple[FastAPI, FastAPI], session: AsyncSession
) -> None:
    client = await ClientFactory(session, replicas[0].state.token_keys)(scopes=["kpm:read"])
    async for first, second in _doors(replicas, _address()):
        for http in (first, second):
            assert (await _token(http, str(uuid.uuid4()), "guess")).status_code == 401
            assert (await http.get(REGION_URL, headers=client.headers)).status_code == 200
        refused_token = await _token(first, str(uuid.uuid4()), "guess")
        refused_read = await second.get(REGION_URL, headers=client.headers)
        for refused in (refused_token, refused_read):
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["retry-after"]) <= 2

        # The real clock: once Retry-After has passed, both are served again.
        waits = [int(refused.headers["retry-after"]) for refused in (refused_token, refused_read)]
        await asyncio.sleep(max(waits) + 0.2)
        assert (await _token(second, str(uuid.uuid4()), "guess")).status_code == 401
        read = await first.get(REGION_URL, headers=client.headers)
        assert read.status_code == 200
        assert read.json()["code"] == "33.28"


async def test_concurrent_hits_on_two_replicas_never_exceed_the_rate(settings: Settings) -> None:
    # Twenty tries at the same instant, ten on each replica, for a rate of five: five pass.
    shared = _shared(settings, rate_limit_token_per_address="5/minute")
    replicas = (RateLimits(shared), RateLimits(shared))
    for limits in replicas:
        limits.use_database(str(shared.database_url))
    address = _address()
    try:
        outcomes = await asyncio.gather(
            *(replicas[n % 2].hit_token_address(address) for n in range(20)),
            return_exceptions=True,
        )
    finally:
        for limits in replicas:
            await limits.close()
    assert sum(outcome is None for outcome in outcomes) == 5
    assert all(isinstance(o, TooManyRequests) for o in outcomes if o is not None)


async def test_a_database_that_cannot_answer_lets_requests_pass(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    session: AsyncSession,
) -> None:
    # The store's database refuses connections (nothing listens on port 1): uncounted.
    shared = _shared(settings, rate_limit_api_per_client="1/hour")
    app = _app_on(shared, sessions, engine)
    app.state.rate_limits.use_database("postgresql://postgres@127.0.0.1:1/nowhere")
    client = await ClientFactory(session, app.state.token_keys)(scopes=["kpm:read"])
    try:
        async for http in _door(app, _address()):
            reads = [await http.get(REGION_URL, headers=client.headers) for _ in range(3)]
            assert [read.status_code for read in reads] == [200, 200, 200]
            assert (await _token(http, client.client_id, client.secret)).status_code == 200
    finally:
        await app.state.rate_limits.close()
