"""Two service processes on one database, each remembering the clients it has checked
(``service.auth.client_states``): a revocation or a secret rotation, committed by the operator,
takes effect on the very next request on both, as when every request read the client's row."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from service.auth.clients import operator, revoke_client, rotate_secret
from service.auth.keys import token_keys
from service.database import async_url, create_session_factory
from service.settings import Settings
from tests.conftest import prepared_database
from tests.factories import ClientFactory, IssuedClient
from tests.test_serve import _free_port, _start, _stop, _wait_ready

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("cheap_secret_hashing")]

JWT_KEY = "replica-signing-key-not-a-secret-0123456789"
REGION_URL = "/api/v1/regions/33.28"


@pytest.fixture
async def shared_database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


@pytest.fixture
def replicas(shared_database: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two `dinsos serve` processes on the one database, ready, listening for client changes."""
    processes: list[tuple[subprocess.Popen[str], int]] = []
    try:
        for number in (1, 2):
            port = _free_port()
            environment = {
                "DATABASE_URL": shared_database,
                "DINSOS_JWT_KEY": JWT_KEY,
                "DINSOS_DATA_DIR": str(tmp_path / f"replica{number}"),
                "DINSOS_CREATE_DEMO_CLIENT": "false",
                "DINSOS_WEBHOOK_DISPATCHER": "false",
            }
            processes.append((_start(environment, port), port))
        for process, port in processes:
            _wait_ready(process, port)
            _wait_listening(port)
        yield [f"http://127.0.0.1:{port}" for _, port in processes]
    finally:
        for process, _ in processes:
            _stop(process)


def _wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        if "dinsos_client_cache_listening 1.0" in metrics:
            return
        time.sleep(0.2)
    raise AssertionError("the process never listened for client changes")


async def _client(database_url: str) -> IssuedClient:
    engine = create_async_engine(async_url(database_url))
    try:
        async with create_session_factory(engine)() as session:
            keys = token_keys(Settings(jwt_key=JWT_KEY))
            return await ClientFactory(session, keys, commit=True)(scopes=["kpm:read"])
    finally:
        await engine.dispose()


async def _as_operator(database_url: str, change: str, client_id: str) -> None:
    """What `dinsos clients revoke` / `rotate-secret` do: one committed transaction."""
    engine = create_async_engine(async_url(database_url))
    try:
        async with create_session_factory(engine)() as session, session.begin():
            if change == "revoke":
                await revoke_client(session, operator(), client_id)
            else:
                await rotate_secret(session, operator(), client_id)
    finally:
        await engine.dispose()


async def _statuses(urls: list[str], client: IssuedClient) -> list[int]:
    async with httpx.AsyncClient(timeout=10) as http:
        answers = await asyncio.gather(
            *(http.get(url + REGION_URL, headers=client.headers) for url in urls)
        )
    return [answer.status_code for answer in answers]


@pytest.mark.parametrize("change", ["revoke", "rotate"])
async def test_a_client_change_takes_effect_on_the_next_request_on_every_process(
    replicas: list[str], shared_database: str, change: str
) -> None:
    client = await _client(shared_database)
    # Both processes have checked this client and remember it.
    for _ in range(3):
        assert await _statuses(replicas, client) == [200, 200]

    await _as_operator(shared_database, change, client.client_id)

    # The token, issued before the change, is refused at once by both.
    assert await _statuses(replicas, client) == [401, 401]
