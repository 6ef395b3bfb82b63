"""The embedded server: starts from an empty folder, keeps data across restarts, and leaves no
process behind when stopped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import asyncpg

from service.embedded_database import EmbeddedPostgres


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone_within(pid: int, seconds: float = 10.0) -> bool:
    # pg_ctl's "stop -w" returns once the server stops accepting work; the postmaster
    # process itself exits a moment later.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _running(pid):
            return True
        time.sleep(0.05)
    return False


async def test_start_restart_and_stop(embedded_folder: Path) -> None:
    server = EmbeddedPostgres(embedded_folder)
    url = server.start()
    connection = await asyncpg.connect(url)
    await connection.execute("CREATE TABLE kept (value text)")
    await connection.execute("INSERT INTO kept VALUES ('still here')")
    major = int(await connection.fetchval("SHOW server_version_num")) // 10000
    await connection.close()
    pid = _postmaster_pid(server.pgdata)
    server.stop()
    assert major >= 15
    assert _gone_within(pid)

    again = EmbeddedPostgres(embedded_folder)
    connection = await asyncpg.connect(again.start())
    assert await connection.fetchval("SELECT value FROM kept") == "still here"
    await connection.close()
    pid = _postmaster_pid(again.pgdata)
    again.stop()
    assert _gone_within(pid)


async def test_a_killed_owner_does_not_keep_the_server_alive(embedded_folder: Path) -> None:
    first = EmbeddedPostgres(embedded_folder)
    first.start()
    first.stop()
    # A run that was killed (SIGKILL, power loss) left its pid registered as a user of the
    # server; the library would then never stop the server for anyone else.
    (first.pgdata / ".handle_pids.json").write_text("[999999]")
    server = EmbeddedPostgres(embedded_folder)
    server.start()
    pid = _postmaster_pid(server.pgdata)
    server.stop()
    assert _gone_within(pid)
