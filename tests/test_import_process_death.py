"""An import whose process dies mid-file is finished by another process, and ends exactly as a
clean run of the same file would: the same counts, the same refused rows, every family once.

Real processes: `dinsos serve` receives the upload and starts the import; it is killed
(SIGKILL: no shutdown, no cleanup) after some batches are committed; a `dinsos worker`
started afterwards takes the job over from the database. The clean run is the same file
imported on a database of its own."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from bench.gen_kpm import generate
from service.access import Caller
from service.auth.keys import token_keys
from service.connections import asyncpg_dsn
from service.database import async_url, create_session_factory
from service.kpm import imports
from service.kpm.importer import BATCH_FAMILIES, run_import
from service.settings import Settings
from tests.conftest import prepared_database
from tests.factories import ClientFactory, IssuedClient
from tests.test_serve import DINSOS, _free_port, _inherited_environment, _start, _wait_ready

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("cheap_secret_hashing")]

JWT_KEY = "import-death-signing-key-not-a-secret-0123456789"
WRITER = ["kpm:read", "kpm:write", "pii:read"]
# Enough families for several batches (a few seconds of import), with 2% of them spoiled, some
# by a NIK that an earlier family of the file holds: refused by what the run remembers of the
# file, which a resumed run must rebuild.
FAMILIES = 8 * BATCH_FAMILIES
COUNTS = (
    "bytes_read",
    "rows_read",
    "families_read",
    "families_created",
    "families_updated",
    "families_unchanged",
    "families_refused",
    "people_imported",
)


@pytest.fixture(scope="module")
def roll(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("roll")
    generate(folder, FAMILIES, seed=23)
    return folder / "kpm.csv"


@pytest.fixture
async def shared_database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


@pytest.fixture
async def clean_database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


def _environment(database_url: str, data_dir: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DINSOS_JWT_KEY": JWT_KEY,
        "DINSOS_DATA_DIR": str(data_dir),
        "DINSOS_CREATE_DEMO_CLIENT": "false",
        "DINSOS_WEBHOOK_DISPATCHER": "false",
        "DINSOS_IMPORT_POLL_SECONDS": "0.5",
    }


async def _client(database_url: str) -> IssuedClient:
    engine = create_async_engine(async_url(database_url))
    try:
        async with create_session_factory(engine)() as session:
            keys = token_keys(Settings(jwt_key=JWT_KEY))
            return await ClientFactory(session, keys, commit=True)(scopes=WRITER)
    finally:
        await engine.dispose()


async def _fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def _job(database_url: str, job_id: str) -> asyncpg.Record:
    rows = await _fetch(database_url, "SELECT * FROM kpm_import_job WHERE id = $1", job_id)
    return rows[0]


async def _refusals(database_url: str, job_id: str) -> list[tuple[Any, ...]]:
    rows = await _fetch(
        database_url,
        "SELECT line, lines, no_kk, nik, field, code, message FROM kpm_import_refusal"
        " WHERE job_id = $1",
        job_id,
    )
    return sorted(tuple(row) for row in rows)


async def _wait_for(database_url: str, job_id: str, done: Any, timeout: float) -> asyncpg.Record:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await _job(database_url, job_id)
        if done(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the job never got there: {dict(job)}")


async def _clean_run(database_url: str, client: IssuedClient, roll: Path) -> str:
    """The same file, for a client with the same scopes, on a database of its own."""
    engine = create_async_engine(async_url(database_url))
    sessions = create_session_factory(engine)
    caller = Caller(uuid.UUID(client.client_id), "clean", frozenset(WRITER), None)
    try:
        async with sessions() as session, session.begin():
            job = await imports.create_job(session, caller, roll, "csv", roll.stat().st_size)
        await run_import(sessions, caller, job.id)
        return str(job.id)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
async def test_an_import_whose_process_ends_mid_file_is_finished_elsewhere_as_a_clean_run_ends(
    shared_database: str, clean_database: str, roll: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    """SIGKILL: the process dies at once. SIGTERM with no grace: the import in hand is
    cancelled at shutdown, and must be left to resume, not failed."""
    client = await _client(shared_database)
    port = _free_port()
    environment = {
        **_environment(shared_database, tmp_path / "a"),
        "DINSOS_SHUTDOWN_GRACE_SECONDS": "0",
    }
    receiver = _start(environment, port)
    try:
        _wait_ready(receiver, port)
        async with httpx.AsyncClient(timeout=120) as http:
            started = await http.post(
                f"http://127.0.0.1:{port}/api/v1/kpm/imports?format=csv",
                content=roll.read_bytes(),
                headers=client.headers,
            )
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        # Ended once a batch is committed, before the file is done.
        await _wait_for(shared_database, job_id, lambda job: job["families_read"] > 0, 120)
        receiver.send_signal(stop)
        receiver.wait(timeout=60)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    left = await _job(shared_database, job_id)
    assert left["status"] == "running"
    assert 0 < left["families_read"] < FAMILIES

    worker = subprocess.Popen(
        [str(DINSOS), "worker"],
        env={**_inherited_environment(), **_environment(shared_database, tmp_path / "b")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        resumed = await _wait_for(
            shared_database, job_id, lambda job: job["status"] in ("done", "failed"), 300
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert resumed["status"] == "done", (dict(resumed), output)

    clean_id = await _clean_run(clean_database, client, roll)
    clean = await _job(clean_database, clean_id)
    assert clean["families_read"] == FAMILIES
    assert {name: resumed[name] for name in COUNTS} == {name: clean[name] for name in COUNTS}
    refused = await _refusals(shared_database, job_id)
    assert refused == await _refusals(clean_database, clean_id)
    assert refused  # the spoiled families

    # Read back: every family and every person once, each created once in the journal.
    [families] = await _fetch(
        shared_database, "SELECT count(*) AS n, count(DISTINCT no_kk) AS distinct_n FROM kpm_family"
    )
    assert families["n"] == families["distinct_n"] == resumed["families_created"]
    [people] = await _fetch(shared_database, "SELECT count(*) AS n FROM kpm_member")
    assert people["n"] == resumed["people_imported"]
    [created] = await _fetch(
        shared_database,
        "SELECT count(*) AS n, count(DISTINCT record_id) AS distinct_n FROM change_event"
        " WHERE entity = 'kpm' AND action = 'create'",
    )
    assert created["n"] == created["distinct_n"] == resumed["families_created"]
    # The stored file is gone with the job's end.
    assert not await _fetch(
        shared_database, "SELECT 1 FROM kpm_import_chunk WHERE job_id = $1", job_id
    )
