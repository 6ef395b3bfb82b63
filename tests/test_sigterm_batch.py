"""SIGTERM to a `dinsos serve` in the middle of a 10,000-item disbursement batch: the batch is
all there or not at all, and the allocation's committed sum says the same; the client's retry
with the same Idempotency-Key, on a new process, ends with exactly one batch."""

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

from service.auth.keys import token_keys
from service.connections import asyncpg_dsn
from service.database import async_url, create_session_factory
from service.settings import Settings
from tests.conftest import prepared_database
from tests.factories import (
    ClientFactory,
    IssuedClient,
    allocation_body,
    committed_families,
    disbursement_body,
)
from tests.test_serve import _free_port, _start, _wait_ready

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("cheap_secret_hashing")]

JWT_KEY = "sigterm-signing-key-not-a-secret-0123456789"
ITEMS = 10_000
AMOUNT = 300_000
BATCHES = "/api/v1/disbursements/batches"


@pytest.fixture
async def database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


def _serve(database_url: str, folder: Path) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    process = _start(
        {
            "DATABASE_URL": database_url,
            "DINSOS_JWT_KEY": JWT_KEY,
            "DINSOS_DATA_DIR": str(folder),
            "DINSOS_CREATE_DEMO_CLIENT": "false",
            "DINSOS_MIGRATE_ON_START": "false",
            "DINSOS_WEBHOOK_DISPATCHER": "false",
            # Warnings and errors only: an access line per request would fill the pipe.
            "DINSOS_LOG_LEVEL": "WARNING",
        },
        port,
    )
    _wait_ready(process, port)
    return process, f"http://127.0.0.1:{port}"


async def _office_and_families(database_url: str) -> tuple[IssuedClient, list[str]]:
    engine = create_async_engine(async_url(database_url))
    try:
        async with create_session_factory(engine)() as session:
            keys = token_keys(Settings(jwt_key=JWT_KEY))
            office = await ClientFactory(session, keys, commit=True)(region="33.28")
        families = await committed_families(engine, "33.28.02.2001", ITEMS // 2)
        families += await committed_families(engine, "33.28.02.2002", ITEMS // 2)
        return office, families
    finally:
        await engine.dispose()


async def _stored(database_url: str, allocation_id: str) -> tuple[int, int, int]:
    """(disbursements, their sum, the allocation's committed sum), read from the database."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "SELECT count(*), coalesce(sum(amount), 0) FROM disbursement WHERE allocation_id = $1",
            uuid.UUID(allocation_id),
        )
        assert row is not None
        count, total = row
        committed = await connection.fetchval(
            "SELECT committed FROM budget_allocation WHERE id = $1", uuid.UUID(allocation_id)
        )
        return int(count), int(total), int(committed)
    finally:
        await connection.close()


async def _claimed(database_url: str, client_id: str, key: str, seconds: float = 30) -> None:
    """Until the batch's Idempotency-Key is claimed: the request is past parsing, at work."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await connection.fetchval(
                "SELECT 1 FROM idempotency_key WHERE client_id = $1 AND key = $2",
                uuid.UUID(client_id),
                key,
            ):
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the batch never started")
    finally:
        await connection.close()


async def _post_batch(
    base: str, office: IssuedClient, key: str, items: list[dict[str, Any]]
) -> httpx.Response | None:
    """The batch's answer, or None when the connection ended without one."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        try:
            return await http.post(
                BATCHES,
                json={"items": items},
                headers={**office.headers, "Idempotency-Key": key},
            )
        except httpx.TransportError:
            return None


async def test_sigterm_during_a_batch_of_ten_thousand_keeps_all_or_nothing(
    database: str, tmp_path: Path
) -> None:
    office, families = await _office_and_families(database)
    process, base = _serve(database, tmp_path / "first")
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            created = await http.post(
                "/api/v1/allocations",
                json=allocation_body(amount=ITEMS * AMOUNT),
                headers=office.headers,
            )
        assert created.status_code == 201, created.text
        allocation = created.json()["id"]
        items = [
            disbursement_body(allocation, family, amount=AMOUNT, channel="kks")
            for family in families
        ]
        key = str(uuid.uuid4())

        sent = asyncio.create_task(_post_batch(base, office, key, items))
        await _claimed(database, office.client_id, key)
        process.send_signal(signal.SIGTERM)
        first = await sent
        output, _ = await asyncio.to_thread(process.communicate, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output

    # All or nothing, in the rows and in the allocation's running sum alike.
    stored = await _stored(database, allocation)
    assert stored in ((ITEMS, ITEMS * AMOUNT, ITEMS * AMOUNT), (0, 0, 0)), stored
    if first is not None:  # an answer that arrived is the whole batch
        assert first.status_code == 200, first.text
        assert (first.json()["created"], first.json()["refused"]) == (ITEMS, 0)
        assert stored[0] == ITEMS

    # The client retries, with the same key, on another process: one batch in the end.
    process, base = _serve(database, tmp_path / "second")
    try:
        retried = await _post_batch(base, office, key, items)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert retried is not None
    assert retried.status_code == 200, retried.text
    assert (retried.json()["created"], retried.json()["refused"]) == (ITEMS, 0)
    # Replayed exactly when the first run had finished (its answer was stored with it).
    assert (retried.headers.get("idempotent-replayed") == "true") == (stored[0] == ITEMS)
    if first is not None:
        assert retried.content == first.content
    assert await _stored(database, allocation) == (ITEMS, ITEMS * AMOUNT, ITEMS * AMOUNT)
