"""The change feed live over GraphQL (graphql-transport-ws): a real WebSocket through the ASGI
app, on committed data, reading the same changes, masking and audit as REST's feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx_ws import (
    AsyncWebSocketSession,
    WebSocketDisconnect,
    aconnect_ws,
)
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.auth.client_states import ClientStates
from service.auth.clients import operator, revoke_client
from service.auth.tokens import issue_token, read_token
from service.connections import asyncpg_dsn
from service.database import create_session_factory
from tests.api.changes_feed import drain, journal_change
from tests.factories import ClientFactory, IssuedClient, family_body

# Committed data, in villages no other test writes to.
VILLAGE = "33.26.02.2011"
OTHER_VILLAGE = "33.26.02.2012"
MASKED_READER = ["changes:read", "kpm:read"]

SUBSCRIPTION = """subscription($after: String, $types: [String!]) {
    changes(after: $after, types: $types) {
        cursor
        change { entity recordId action regionCode record }
    }
}"""


@asynccontextmanager
async def through(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP and WebSocket requests to the app, in the test's event loop. (Not a fixture: the
    transport's task group must end in the task that began it.)"""
    transport = ASGIWebSocketTransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        signal = getattr(app.state, "change_signal", None)
        if signal is not None:
            await signal.close()


@asynccontextmanager
async def connected(
    http: httpx.AsyncClient, payload: dict[str, Any]
) -> AsyncIterator[AsyncWebSocketSession]:
    opened: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
        "/graphql", http, subprotocols=["graphql-transport-ws"]
    )
    async with opened as socket:
        await socket.send_json({"type": "connection_init", "payload": payload})
        yield socket


@asynccontextmanager
async def subscribed(
    http: httpx.AsyncClient, reader: IssuedClient, **variables: Any
) -> AsyncIterator[AsyncWebSocketSession]:
    async with connected(http, {"Authorization": f"Bearer {reader.token}"}) as socket:
        assert (await socket.receive_json(timeout=10))["type"] == "connection_ack"
        await socket.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": variables},
            }
        )
        yield socket


async def received(socket: AsyncWebSocketSession, count: int) -> list[dict[str, Any]]:
    """The next ``count`` live changes (cursor and change)."""
    changes = []
    for _ in range(count):
        message = await socket.receive_json(timeout=15)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        changes.append(message["payload"]["data"]["changes"])
    return changes


async def nothing_more(socket: AsyncWebSocketSession, seconds: float = 1.0) -> None:
    with pytest.raises(TimeoutError):
        await socket.receive_json(timeout=seconds)


async def committed_change(engine: AsyncEngine, region: str) -> str:
    async with create_session_factory(engine)() as session, session.begin():
        return await journal_change(session, region)


async def test_a_rest_write_after_subscribing_arrives(
    live_app: FastAPI, live_clients: ClientFactory
) -> None:
    async with through(live_app) as ws_http:
        reader = await live_clients(region=VILLAGE, scopes=MASKED_READER)
        writer = await live_clients(region=VILLAGE)
        _, cursor = await drain(ws_http, reader, None)
        async with subscribed(ws_http, reader, after=cursor, types=["kpm"]) as socket:
            await nothing_more(socket, 0.5)
            response = await ws_http.post(
                "/api/v1/kpm", json=family_body(VILLAGE), headers=writer.headers
            )
            assert response.status_code == 201, response.text
            family = response.json()
            (live,) = await received(socket, 1)
        assert live["change"]["recordId"] == family["id"]
        assert live["change"]["action"] == "create"
        # Without pii:read the record is masked exactly as REST's read masks it.
        read = await ws_http.get(f"/api/v1/kpm/{family['id']}", headers=reader.headers)
        assert live["change"]["record"] == read.json()
        assert "*" in live["change"]["record"]["no_kk"]


async def test_resuming_after_a_cursor_gives_exactly_the_missed_changes(
    live_app: FastAPI, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    async with through(live_app) as ws_http:
        reader = await live_clients(region=OTHER_VILLAGE, scopes=["changes:read"])
        _, cursor = await drain(ws_http, reader, None)
        first = [await committed_change(engine, OTHER_VILLAGE) for _ in range(3)]
        async with subscribed(ws_http, reader, after=cursor) as socket:
            seen = await received(socket, 3)
        assert [live["change"]["recordId"] for live in seen] == first
        # Disconnected after the second; two more are committed meanwhile.
        missed = [await committed_change(engine, OTHER_VILLAGE) for _ in range(2)]
        async with subscribed(ws_http, reader, after=seen[1]["cursor"]) as socket:
            again = await received(socket, 3)
            await nothing_more(socket)
        assert [live["change"]["recordId"] for live in again] == [first[2], *missed]


async def test_a_change_outside_the_region_never_arrives(
    live_app: FastAPI, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    async with through(live_app) as ws_http:
        reader = await live_clients(region="33.26.02.2013", scopes=["changes:read"])
        _, cursor = await drain(ws_http, reader, None)
        async with subscribed(ws_http, reader, after=cursor) as socket:
            await committed_change(engine, "33.26.02.2014")
            inside = await committed_change(engine, "33.26.02.2013")
            (live,) = await received(socket, 1)
            await nothing_more(socket)
        assert live["change"]["recordId"] == inside
        assert live["change"]["regionCode"] == "33.26.02.2013"


async def test_an_unmasked_change_is_audited_before_it_is_sent(
    live_app: FastAPI, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    async with through(live_app) as ws_http:
        reader = await live_clients(region="33.26.02.2015")  # every scope, pii:read included
        writer = await live_clients(region="33.26.02.2015")
        _, cursor = await drain(ws_http, reader, None)
        async with subscribed(ws_http, reader, after=cursor, types=["kpm"]) as socket:
            response = await ws_http.post(
                "/api/v1/kpm", json=family_body("33.26.02.2015"), headers=writer.headers
            )
            family = response.json()
            (live,) = await received(socket, 1)
            async with create_session_factory(engine)() as session:
                audited = await session.scalar(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(
                        col(AuditEntry.client_id) == reader.client_id,
                        col(AuditEntry.action) == "read_pii",
                        col(AuditEntry.record_id) == family["id"],
                    )
                )
        assert live["change"]["record"]["no_kk"] == family["no_kk"]
        assert audited == 1


async def test_no_token_or_a_bad_one_is_refused(
    live_app: FastAPI, live_clients: ClientFactory
) -> None:
    async with through(live_app) as ws_http:
        reader = await live_clients(region=VILLAGE, scopes=["kpm:read"])
        for payload in ({}, {"Authorization": "Bearer not-a-token"}, {"token": reader.token + "x"}):
            async with connected(ws_http, payload) as socket:
                with pytest.raises(WebSocketDisconnect) as refused:
                    await socket.receive_json(timeout=10)
            assert refused.value.code == 4403


async def test_the_token_field_works_and_the_scope_is_needed(
    live_app: FastAPI, live_clients: ClientFactory
) -> None:
    async with through(live_app) as ws_http:
        reader = await live_clients(region=VILLAGE, scopes=["kpm:read"])
        async with connected(ws_http, {"token": reader.token}) as socket:
            assert (await socket.receive_json(timeout=10))["type"] == "connection_ack"
            await socket.send_json(
                {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
            )
            message = await socket.receive_json(timeout=10)
        assert message["type"] == "next"
        (error,) = message["payload"]["errors"]
        assert error["extensions"]["code"] == "insufficient_scope"


async def test_revoking_the_client_closes_the_socket(
    live_app: FastAPI,
    live_clients: ClientFactory,
    engine: AsyncEngine,
) -> None:
    async with through(live_app) as ws_http:
        url = engine.url.render_as_string(hide_password=False)
        states = live_app.state.client_states = ClientStates(asyncpg_dsn(url))
        states.start()
        try:
            for _ in range(100):  # listening, as after the application's start-up
                if states.listening:
                    break
                await asyncio.sleep(0.05)
            assert states.listening
            reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
            _, cursor = await drain(ws_http, reader, None)
            async with subscribed(ws_http, reader, after=cursor) as socket:
                await nothing_more(socket, 0.5)
                async with create_session_factory(engine)() as session, session.begin():
                    await revoke_client(session, operator(), reader.client_id)
                with pytest.raises(WebSocketDisconnect) as closed:
                    # Well before the watcher's fallback check, which runs every 10 seconds.
                    await socket.receive_json(timeout=5)
            assert closed.value.code == 4403
        finally:
            await states.close()


async def test_a_client_holds_no_more_subscriptions_than_the_setting_allows(
    live_app: FastAPI, live_clients: ClientFactory
) -> None:
    live_app.state.settings = live_app.state.settings.model_copy(
        update={"graphql_max_subscriptions_per_client": 1}
    )
    async with through(live_app) as ws_http:
        reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
        _, cursor = await drain(ws_http, reader, None)
        async with subscribed(ws_http, reader, after=cursor) as socket:
            await nothing_more(socket, 0.5)  # the first one is following the feed
            await socket.send_json(
                {
                    "id": "2",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"after": cursor}},
                }
            )
            message = await socket.receive_json(timeout=10)
    assert message["id"] == "2"
    (error,) = message["payload"]["errors"]
    assert error["extensions"]["code"] == "rate_limited"


async def test_a_handshake_from_another_sites_page_is_refused(live_app: FastAPI) -> None:
    async with through(live_app) as ws_http:
        with pytest.raises((WebSocketDisconnect, ExceptionGroup)) as refused:
            async with aconnect_ws(
                "/graphql",
                ws_http,
                subprotocols=["graphql-transport-ws"],
                headers={"Origin": "https://elsewhere.example"},
            ):
                pass
    # Closed before the handshake is accepted (a server answers it 403).
    failure: BaseException = refused.value
    while isinstance(failure, BaseExceptionGroup):
        (failure,) = failure.exceptions
    assert isinstance(failure, WebSocketDisconnect)
    assert failure.code == 1008


@pytest.mark.parametrize("accept", ["application/json", "multipart/mixed;subscriptionSpec=1.0"])
async def test_over_http_the_subscription_is_refused(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, accept: str
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    response = await live_http.post(
        "/graphql",
        json={"query": "subscription { changes { cursor } }"},
        headers={**reader.headers, "Accept": accept},
    )
    assert "websocket_required" in response.text
    assert '"cursor"' not in response.text


async def test_the_socket_is_closed_when_the_token_expires(
    live_app: FastAPI, live_clients: ClientFactory
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    keys = live_app.state.token_keys
    claims = read_token(keys, reader.token)
    short = issue_token(
        keys,
        client_id=claims.client_id,
        scopes=sorted(claims.scopes),
        region_code=claims.region_code,
        secret_generation=claims.secret_generation,
        ttl_seconds=2,
    )
    async with through(live_app) as ws_http, connected(ws_http, {"token": short}) as socket:
        assert (await socket.receive_json(timeout=10))["type"] == "connection_ack"
        with pytest.raises(WebSocketDisconnect) as closed:
            await socket.receive_json(timeout=10)
    assert closed.value.code == 4403
    assert "expired" in closed.value.reason
