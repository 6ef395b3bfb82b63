"""Fixtures of the asynchronous DCI tests (imported by their modules): a database of their own
(a dispatcher sends for every channel of its database, so other tests' must not be there), the
API on it committing for real, a dispatcher with the same settings and signing key (so the key
the API publishes is the one callbacks are signed with), a real callback receiver
(``tests.webhooks.receiver``), and DCI envelopes as a sender builds them."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from api.app import create_app
from service.database import async_url, create_session_factory
from service.settings import Settings
from service.webhooks.dispatcher import Dispatcher
from tests.conftest import prepared_database
from tests.dci.messages import verify_as_client
from tests.dci.spec_check import assert_request_valid
from tests.factories import ClientFactory
from tests.webhooks.receiver import Receiver, running_receiver

VILLAGE = "33.28.02.2001"
REGISTRY_ID = "dinsos-exchange"


@pytest.fixture(scope="module")
async def dci_database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


@pytest.fixture(scope="module")
async def dci_engine(dci_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(dci_database))
    yield engine
    await engine.dispose()


def _signing_key() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@pytest.fixture(scope="module")
def dci_settings(
    dci_database: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The API's and the dispatcher's: loopback callbacks over plain http allowed, short
    timeouts and retries, one DCI signing key."""
    return settings.model_copy(
        update={
            "database_url": dci_database,
            "data_dir": tmp_path_factory.mktemp("dci"),
            "dci_signing_key": SecretStr(_signing_key()),
            "webhook_allow_http": True,
            "webhook_allow_private_targets": True,
            "webhook_connect_timeout_seconds": 1.0,
            "webhook_read_timeout_seconds": 1.0,
            "webhook_write_timeout_seconds": 1.0,
            "webhook_retry_base_seconds": 0.05,
            "webhook_retry_max_seconds": 0.2,
            "webhook_retry_window_seconds": 3600.0,
            "webhook_poll_seconds": 1.0,
            "shutdown_grace_seconds": 5.0,
        }
    )


Api = tuple[httpx.AsyncClient, ClientFactory]
ApiRunner = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def dci_api(dci_engine: AsyncEngine, dci_settings: Settings) -> ApiRunner:
    """``async with dci_api(**settings) as (http, clients)``: the API on the DCI tests'
    database, committing for real; the test's channels are closed at its end."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Api]:
        app = create_app(dci_settings.model_copy(update=overrides))
        app.state.engine = dci_engine
        app.state.sessions = app.state.read_sessions = create_session_factory(dci_engine)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
                app.state.sessions() as session,
            ):
                yield http, ClientFactory(session, app.state.token_keys, commit=True)
        finally:
            async with dci_engine.begin() as connection:
                await connection.execute(
                    text(
                        "UPDATE webhook_subscription SET deleted_at = now()"
                        " WHERE deleted_at IS NULL"
                    )
                )

    return run


DispatcherRunner = Callable[..., AbstractAsyncContextManager[Dispatcher]]


@pytest.fixture
def dispatching(dci_database: str, dci_settings: Settings) -> DispatcherRunner:
    """``async with dispatching(**settings):`` a dispatcher runs in the test's loop."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Dispatcher]:
        dispatcher = Dispatcher(dci_database, dci_settings.model_copy(update=overrides))
        task = asyncio.create_task(dispatcher.run())
        try:
            yield dispatcher
        finally:
            dispatcher.stop()
            await task

    return run


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def envelope(
    action: str,
    message: dict[str, Any],
    *,
    sender_uri: str,
    total_count: int = 1,
    sender_id: str = "sidesa-guci",
) -> dict[str, Any]:
    """A request envelope as a DCI sender builds it (unsigned)."""
    return {
        "header": {
            "version": "1.0.0",
            "message_id": str(uuid.uuid4()),
            "message_ts": now_text(),
            "action": action,
            "sender_id": sender_id,
            "sender_uri": sender_uri,
            "receiver_id": REGISTRY_ID,
            "total_count": total_count,
            "is_msg_encrypted": False,
        },
        "message": message,
    }


def search_message(query_type: str, query: Any, *, reference_id: str = "r1") -> dict[str, Any]:
    return {
        "transaction_id": f"t-{uuid.uuid4().hex[:12]}",
        "search_request": [
            {
                "reference_id": reference_id,
                "timestamp": now_text(),
                "search_criteria": {
                    "reg_record_type": "Group",
                    "query_type": query_type,
                    "query": query,
                    "pagination": {"page_size": 10, "page_number": 1},
                },
            }
        ],
    }


async def verify_callback(http: httpx.AsyncClient, body: dict[str, Any], path: str) -> None:
    """``body`` (a callback received) is valid for ``path`` of the spec and signed by the key
    this registry publishes."""
    assert_request_valid(path, body)
    jwks = await http.get("/dci/.well-known/jwks.json")
    assert jwks.status_code == 200, jwks.text
    # Checked as a client would, with code of its own (not the service's verify_signature).
    verify_as_client(body["signature"], body["header"], body.get("message"), jwks.json())


def subscribe_message(event_type: str, village: str = VILLAGE) -> dict[str, Any]:
    return {
        "transaction_id": f"t-{uuid.uuid4().hex[:12]}",
        "subscribe_request": [
            {
                "reference_id": f"ref-{event_type}",
                "timestamp": now_text(),
                "subscribe_criteria": {
                    "reg_event_type": event_type,
                    "notify_record_type": "Group",
                    "filter_type": "expression",
                    "filter": {
                        "type": "expression",
                        "value": {
                            "expression": {
                                "collection": "Group",
                                "query": {"village_code": {"$eq": village}},
                            }
                        },
                    },
                },
            }
        ],
    }


def count_is(receiver: Receiver, path: str, count: int) -> Callable[[], bool]:
    return lambda: len(receiver.accepted(path)) == count


def notified(receiver: Receiver, path: str) -> list[dict[str, Any]]:
    return [
        received.message
        for received in receiver.accepted(path)
        if received.message["header"]["action"] == "notify"
    ]
