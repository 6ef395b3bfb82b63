"""What a process remembers of clients is only trusted while it listens: a notification makes it
forget one client, a lost connection makes it forget all and read rows until it listens again,
and a row read while a notification went by is not kept."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.auth.client_states import ClientState, ClientStates
from service.connections import asyncpg_dsn
from service.database import create_session_factory

pytestmark = pytest.mark.db

STATE = ClientState("a client", frozenset({"kpm:read"}), None, 1, revoked=False)


async def _until(condition: object, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _notify(engine: AsyncEngine, payload: str) -> None:
    async with create_session_factory(engine)() as session, session.begin():
        await session.execute(text("SELECT pg_notify('api_client', :id)"), {"id": payload})


async def test_nothing_is_remembered_before_listening(database_url: str) -> None:
    states = ClientStates(asyncpg_dsn(database_url))
    client_id = uuid.uuid4()
    states.remember(client_id, STATE, states.epoch)
    assert states.recall(client_id) is None


async def test_a_notification_forgets_that_client_only(
    database_url: str, engine: AsyncEngine
) -> None:
    states = ClientStates(asyncpg_dsn(database_url))
    states.start()
    try:
        await _until(lambda: states.listening)
        changed, other = uuid.uuid4(), uuid.uuid4()
        states.remember(changed, STATE, states.epoch)
        states.remember(other, STATE, states.epoch)
        assert states.recall(changed) == STATE

        await _notify(engine, str(changed))

        await _until(lambda: states.recall(changed) is None)
        assert states.recall(other) == STATE
    finally:
        await states.close()


async def test_a_row_read_while_a_notification_went_by_is_not_kept(
    database_url: str, engine: AsyncEngine
) -> None:
    states = ClientStates(asyncpg_dsn(database_url))
    states.start()
    try:
        await _until(lambda: states.listening)
        client_id = uuid.uuid4()
        before_read = states.epoch
        await _notify(engine, str(client_id))  # the row changed while it was being read
        await _until(lambda: states.epoch != before_read)
        states.remember(client_id, STATE, before_read)
        assert states.recall(client_id) is None
    finally:
        await states.close()


async def test_a_lost_connection_forgets_everything_until_it_listens_again(
    database_url: str,
) -> None:
    states = ClientStates(asyncpg_dsn(database_url))
    states.start()
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await _until(lambda: states.listening)
        client_id = uuid.uuid4()
        states.remember(client_id, STATE, states.epoch)
        listeners = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%api_client%'"
            " AND datname = current_database()"
        )
        assert listeners
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
            [row["pid"] for row in listeners],
        )
        # Forgotten (no notification named it), and listening again by itself (it may be
        # listening again before this looks: the reconnection takes milliseconds).
        await _until(lambda: states.recall(client_id) is None)
        await _until(lambda: states.listening)
        assert states.recall(client_id) is None
    finally:
        await admin.close()
        await states.close()
