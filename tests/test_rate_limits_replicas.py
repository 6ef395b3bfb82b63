"""Two `dinsos serve` processes counting rates in their one database
(``DINSOS_RATE_LIMIT_STORAGE=postgresql``): a client's requests, whichever process serves
them, are counted once (issue 10, defect 3)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_client_changes_replicas import JWT_KEY, REGION_URL, _client
from tests.test_serve import _free_port, _start, _stop, _wait_ready

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("cheap_secret_hashing")]


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two processes on the session's database, counting in it, with small rates."""
    processes: list[tuple[subprocess.Popen[str], int]] = []
    try:
        for number in (1, 2):
            port = _free_port()
            environment = {
                "DATABASE_URL": database_url,
                "DINSOS_JWT_KEY": JWT_KEY,
                "DINSOS_DATA_DIR": str(tmp_path / f"replica{number}"),
                "DINSOS_CREATE_DEMO_CLIENT": "false",
                "DINSOS_WEBHOOK_DISPATCHER": "false",
                "DINSOS_RATE_LIMIT_STORAGE": "postgresql",
                "DINSOS_RATE_LIMIT_API_PER_CLIENT": "3/minute",
                "DINSOS_RATE_LIMIT_TOKEN_PER_CLIENT": "2/minute",
            }
            processes.append((_start(environment, port), port))
        for process, port in processes:
            _wait_ready(process, port)
        yield [f"http://127.0.0.1:{port}" for _, port in processes]
    finally:
        for process, _ in processes:
            _stop(process)


async def test_two_processes_count_a_client_once(replicas: list[str], database_url: str) -> None:
    client = await _client(database_url)
    first, second = replicas
    async with httpx.AsyncClient(timeout=10) as http:
        for url in (first, second, first):
            read = await http.get(url + REGION_URL, headers=client.headers)
            assert read.status_code == 200
            assert read.json()["code"] == "33.28"
        for url in (second, first):
            refused = await http.get(url + REGION_URL, headers=client.headers)
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["retry-after"]) <= 60

        token = {"grant_type": "client_credentials", "client_id": client.client_id}
        wrong = await http.post(first + "/oauth/token", data={**token, "client_secret": "wrong"})
        assert wrong.status_code == 401
        right = {**token, "client_secret": client.secret}
        assert (await http.post(second + "/oauth/token", data=right)).status_code == 200
        assert (await http.post(first + "/oauth/token", data=right)).status_code == 429
