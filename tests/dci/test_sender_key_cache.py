"""A process remembers each client's DCI keys only while it listens for client changes, and a
key added or revoked (by whatever writer: a trigger notifies) makes every process forget that
client's keys, so the next message is checked against the keys as they are now."""

from __future__ import annotations

import asyncio
import time
import uuid

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.ext.asyncio import AsyncEngine

from service.access import Caller
from service.auth.client_states import ClientStates
from service.auth.clients import operator
from service.connections import asyncpg_dsn
from service.database import create_session_factory, one_statement_connections
from service.dci import sender_keys
from service.dci.signatures import public_jwk
from tests.factories import ClientFactory


async def _until(condition: object, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_new_or_revoked_key_is_seen_at_once(
    database_url: str, engine: AsyncEngine, live_clients: ClientFactory
) -> None:
    client = await live_clients(region="33.26.06", scopes=["kpm:read"])
    caller = Caller(uuid.UUID(client.client_id), "test", frozenset({"kpm:read"}), "33.26.06")
    states = ClientStates(asyncpg_dsn(database_url))
    cache = sender_keys.SenderKeyCache(states)
    statements = one_statement_connections(engine)
    sessions = create_session_factory(engine)
    assert await sender_keys.active_keys(statements, caller, cache) == ()
    assert cache.recall(caller.client_id) is None  # type: ignore[arg-type]  # not listening yet
    states.start()
    try:
        await _until(lambda: states.listening)
        assert await sender_keys.active_keys(statements, caller, cache) == ()
        assert cache.recall(caller.client_id) == ()  # type: ignore[arg-type]

        key = ed25519.Ed25519PrivateKey.generate()
        async with sessions() as session, session.begin():
            await sender_keys.add_key(
                session, operator(), client.client_id, key_id="k1",
                jwk=public_jwk(key.public_key()),
            )  # fmt: skip
        await _until(lambda: cache.recall(caller.client_id) is None)  # type: ignore[arg-type]
        (found,) = await sender_keys.active_keys(statements, caller, cache)
        assert found.key_id == "k1"

        async with sessions() as session, session.begin():
            await sender_keys.revoke_key(session, operator(), client.client_id, "k1")
        await _until(lambda: cache.recall(caller.client_id) is None)  # type: ignore[arg-type]
        assert await sender_keys.active_keys(statements, caller, cache) == ()
    finally:
        await states.close()
