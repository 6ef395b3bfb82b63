"""An upload that stops half-way leaves nothing behind: no job, no stored piece of the file.
Real processes and a raw socket: the client announces a body (the route takes the file as the
body itself, `text/csv`, not a multipart form), sends part of it and goes away; or the process
receiving it is killed, and another process cleans up."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from service.kpm.imports import CHUNK_BYTES
from tests.conftest import prepared_database
from tests.test_import_process_death import _client, _environment, _fetch
from tests.test_serve import DINSOS, _free_port, _inherited_environment, _start, _stop, _wait_ready

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("cheap_secret_hashing")]

HEADER = "no_kk,nik,name,relationship,sex,birth_date,village_code,address,desil,programs\r\n"
ROW = "3328012603170001,3328013009900002,Warsito,KEPALA_KELUARGA,L,1990-09-30,33.28.01.2013,,1,\r\n"


@pytest.fixture
async def shared_database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


def _send_half_an_upload(port: int, token: str) -> socket.socket:
    """Headers announcing 3 MB, then a little more of the file than one stored piece."""
    part = HEADER + ROW * (CHUNK_BYTES // len(ROW) + 2000)
    raw = socket.create_connection(("127.0.0.1", port))
    raw.sendall(
        (
            "POST /api/v1/kpm/imports?format=csv HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Content-Type: text/csv\r\n"
            f"Content-Length: {3 * CHUNK_BYTES}\r\n\r\n"
        ).encode()
        + part.encode()
    )
    return raw


async def _stored(database_url: str) -> tuple[int, int]:
    """Jobs of any status, and stored pieces."""
    [row] = await _fetch(
        database_url,
        "SELECT (SELECT count(*) FROM kpm_import_job) AS jobs,"
        " (SELECT count(*) FROM kpm_import_chunk) AS chunks",
    )
    return row["jobs"], row["chunks"]


async def _until(database_url: str, wanted: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = await _stored(database_url)
        if wanted(stored):  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"stored: {stored}")


async def test_a_client_gone_mid_upload_leaves_no_job_and_no_file(
    shared_database: str, tmp_path: Path
) -> None:
    client = await _client(shared_database)
    port = _free_port()
    server = _start(_environment(shared_database, tmp_path / "a"), port)
    try:
        _wait_ready(server, port)
        raw = _send_half_an_upload(port, client.token)
        with raw:
            # Part of the file is stored: the upload is under way.
            await _until(shared_database, lambda stored: stored[1] > 0, 30)
        await _until(shared_database, lambda stored: stored == (0, 0), 30)
        # The service goes on as before.
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    finally:
        output = _stop(server)
    assert "Traceback" not in output, output
    assert "Exception in ASGI application" not in output, output


async def test_an_upload_whose_process_died_is_deleted_by_another(
    shared_database: str, tmp_path: Path
) -> None:
    client = await _client(shared_database)
    environment = {
        **_environment(shared_database, tmp_path / "a"),
        "DINSOS_IMPORT_UPLOAD_IDLE_SECONDS": "1",
    }
    port = _free_port()
    server = _start(environment, port)
    try:
        _wait_ready(server, port)
        with _send_half_an_upload(port, client.token):
            await _until(shared_database, lambda stored: stored[1] > 0, 30)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=30)
    assert (await _stored(shared_database))[0] == 1  # left behind by the dead process

    worker = subprocess.Popen(
        [str(DINSOS), "worker"],
        env={**_inherited_environment(), **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await _until(shared_database, lambda stored: stored == (0, 0), 30)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
