"""A stalled database under a running `dinsos serve` (real processes): while PostgreSQL is
frozen (SIGSTOP on the server and its backends) or shut down, parallel reads and writes are
answered 503 problem+json with Retry-After within the configured waits, never 500 and never
left hanging; once it is back the same process answers again, and every write it acknowledged
is stored, once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.auth.keys import token_keys
from service.database import create_engine, create_session_factory
from service.embedded_database import EmbeddedPostgres
from service.runtime import load_reference_data, migrate
from service.settings import Settings
from tests.factories import ClientFactory, program_body
from tests.test_serve import DINSOS, _free_port, _inherited_environment, _stop, _wait_ready

JWT_KEY = "s" * 40
# Short waits, so that the stall is seen in seconds: the test's client gives up long after
# them (CLIENT_TIMEOUT), so an answer that never comes fails the test instead of hanging it.
SHORT_WAITS = {
    "DINSOS_DB_POOL_SIZE": "3",
    "DINSOS_DB_MAX_OVERFLOW": "2",
    "DINSOS_DB_POOL_TIMEOUT_SECONDS": "1",
    "DINSOS_DB_CONNECT_TIMEOUT_SECONDS": "2",
    "DINSOS_DB_COMMAND_TIMEOUT_SECONDS": "2",
    "DINSOS_DB_STATEMENT_TIMEOUT_MS": "1500",
}
CLIENT_TIMEOUT = 20.0
PARALLEL = 24


@dataclass
class Running:
    database: EmbeddedPostgres
    base: str
    headers: dict[str, str]
    log: Path


@pytest.fixture
async def running(embedded_folder: Path, tmp_path: Path) -> AsyncIterator[Running]:
    database = EmbeddedPostgres(embedded_folder)
    url = database.start()
    await migrate(url)
    settings = Settings(database_url=url, data_dir=tmp_path, jwt_key=JWT_KEY)
    engine = create_engine(url, settings)
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        await load_reference_data(session)
    async with sessions() as session:
        client = await ClientFactory(session, token_keys(settings), commit=True)()
    await engine.dispose()

    port = _free_port()
    log = tmp_path / "serve.log"
    env = {
        "DATABASE_URL": url,
        "DINSOS_DATA_DIR": str(tmp_path),
        "DINSOS_JWT_KEY": JWT_KEY,
        **SHORT_WAITS,
    }
    # The output goes to a file the test reads while the service still runs.
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(DINSOS), "serve", "--port", str(port)],
            env={**_inherited_environment(), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _wait_ready(process, port)
            yield Running(database, f"http://127.0.0.1:{port}", client.headers, log)
        finally:
            _stop(process)
            database.stop()


def _server_processes(pgdata: Path) -> list[int]:
    """The postmaster and every process it started (backends, checkpointer, walwriter...)."""
    postmaster = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == postmaster:
            children.append(int(entry.name))
    return [postmaster, *children]


@contextmanager
def frozen(database: EmbeddedPostgres) -> Iterator[None]:
    processes = _server_processes(database.pgdata)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in processes:
            os.kill(pid, signal.SIGCONT)


async def _load(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> list[tuple[str, httpx.Response]]:
    """PARALLEL requests at once: reads on REST and GraphQL, a long poll of the change feed,
    program creations, and the hot read of one statement (on a pool of its own)."""

    async def one(kind: int) -> tuple[str, httpx.Response]:
        if kind == 0:
            body = program_body()
            return body["code"], await http.post("/api/v1/programs", json=body, headers=headers)
        if kind == 1:
            return "", await http.get("/api/v1/programs?limit=50", headers=headers)
        if kind == 2:  # a long poll: the change notification connection, then a read
            return "", await http.get("/api/v1/changes?wait=1", headers=headers)
        if kind == 3:
            query = {"query": '{ region(code: "33.28") { name } }'}
            return "", await http.post("/graphql", json=query, headers=headers)
        return "", await http.get("/api/v1/regions/33.28", headers=headers)

    return await asyncio.gather(*(one(n % 5) for n in range(PARALLEL)))


def _assert_only_retry_answers(answers: list[tuple[str, httpx.Response]]) -> None:
    for _, response in answers:
        assert response.status_code != 500, response.text
        if response.status_code == 503:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "5"
            assert response.json()["code"] == "database_unavailable"
        elif response.request.url.path == "/graphql":
            assert response.status_code == 200
            errors = response.json().get("errors") or []
            assert {error["extensions"]["code"] for error in errors} <= {"database_unavailable"}
        else:
            assert response.status_code in (200, 201), response.text


async def _recovered(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Writes and reads again, without a restart: the code of a program created after the
    stall, once the hot read (its own pool) answers too."""
    for _ in range(120):
        body = program_body()
        response = await http.post("/api/v1/programs", json=body, headers=headers)
        if response.status_code == 201:
            for _ in range(120):
                region = await http.get("/api/v1/regions/33.28", headers=headers)
                if region.status_code == 200:
                    assert region.json()["name"] == "Kabupaten Tegal"
                    return str(body["code"])
                assert region.status_code == 503, region.text
                await asyncio.sleep(0.5)
            raise AssertionError("the hot read did not recover")
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.5)
    raise AssertionError("the service did not recover")


async def _stored_codes(http: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    codes: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/api/v1/programs", params=params, headers=headers)).json()
        codes += [item["code"] for item in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return codes


def _assert_no_error_logged(log: Path) -> None:
    """A stall is an expected condition: warnings, never an error or a traceback (the
    dispatcher, the change listener and the request handlers alike)."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines
    errors = [line["message"] for line in lines if line["level"] in ("ERROR", "CRITICAL")]
    assert errors == []
    assert not [line["message"] for line in lines if "exc_info" in line]


def _acknowledged(answers: list[tuple[str, httpx.Response]]) -> list[str]:
    return [code for code, response in answers if code and response.status_code == 201]


async def test_a_frozen_database_answers_503_and_recovers(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.base, timeout=CLIENT_TIMEOUT) as http:
        before = await _load(http, running.headers)
        _assert_only_retry_answers(before)
        with frozen(running.database):
            during = await _load(http, running.headers)
            # A second wave while the first one's connections are still stuck: the pool is
            # full, and its wait is what answers.
            during += await _load(http, running.headers)
        _assert_only_retry_answers(during)
        assert any(response.status_code == 503 for _, response in during)
        after = await _recovered(http, running.headers)
        assert (await http.get("/readyz")).status_code == 200

        stored = await _stored_codes(http, running.headers)
    for code in [*_acknowledged(before), *_acknowledged(during), after]:
        assert stored.count(code) == 1, code
    _assert_no_error_logged(running.log)


async def test_a_database_shut_down_and_restarted_answers_503_and_recovers(
    running: Running,
) -> None:
    async with httpx.AsyncClient(base_url=running.base, timeout=CLIENT_TIMEOUT) as http:
        before = await _load(http, running.headers)
        running.database.stop()
        try:
            during = await _load(http, running.headers)
        finally:
            running.database.start()
        _assert_only_retry_answers(during)
        assert any(response.status_code == 503 for _, response in during)
        after = await _recovered(http, running.headers)
        stored = await _stored_codes(http, running.headers)
    for code in [*_acknowledged(before), *_acknowledged(during), after]:
        assert stored.count(code) == 1, code
    _assert_no_error_logged(running.log)
