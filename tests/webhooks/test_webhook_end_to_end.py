"""End to end, as an integrator meets it: subscribe through the API, a family registered
through the API arrives over TLS at the subscriber's endpoint, signed with the secret the API
showed once; the delivery log shows it delivered; a redelivery through the API sends it again
under the same webhook-id; after a secret rotation both secrets verify."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from service.database import create_session_factory
from service.settings import Settings
from service.webhooks.dispatcher import Dispatcher
from tests.factories import ClientFactory, family_body
from tests.webhooks.certificates import CertificateAuthority
from tests.webhooks.conftest import VILLAGE, webhook_settings
from tests.webhooks.receiver import Receiver, running_receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


@pytest.fixture
async def api(
    webhook_database: str, webhook_engine: AsyncEngine, settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, ClientFactory]]:
    """The API on the webhook tests' database, committing for real."""
    app = create_app(settings.model_copy(update={"database_url": webhook_database}))
    app.state.engine = webhook_engine
    app.state.sessions = app.state.read_sessions = create_session_factory(webhook_engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        app.state.sessions() as session,
    ):
        yield http, ClientFactory(session, app.state.token_keys, commit=True)


async def until_delivered(
    http: httpx.AsyncClient, headers: dict[str, str], subscription_id: str, count: int
) -> list[dict[str, Any]]:
    """The delivery log once ``count`` deliveries are delivered (read every 50 ms: the log is
    written just after the receiver answers, and nothing signals it)."""
    async with asyncio.timeout(10):
        while True:
            log = await http.get(f"/api/v1/webhooks/{subscription_id}/deliveries", headers=headers)
            assert log.status_code == 200, log.text
            items: list[dict[str, Any]] = log.json()["items"]
            if sum(item["status"] == "delivered" for item in items) == count:
                return items
            await asyncio.sleep(0.05)


async def test_subscribe_receive_redeliver_and_rotate_through_the_api(
    webhook_database: str,
    committed: async_sessionmaker[AsyncSession],
    api: tuple[httpx.AsyncClient, ClientFactory],
    tmp_path: Path,
) -> None:
    http, clients = api
    authority = CertificateAuthority()
    certificate = authority.issue(tmp_path, "localhost")
    receiver: Receiver
    async with running_receiver(tls=certificate, name="localhost") as receiver:
        subscriber = await clients(region=VILLAGE, scopes=["webhooks:manage", "changes:read"])
        created = await http.post(
            "/api/v1/webhooks",
            json={"url": receiver.url("sidesa"), "event_types": ["kpm"]},
            headers=subscriber.headers,
        )
        assert created.status_code == 201, created.text
        subscription = created.json()
        receiver.secrets = {"shown once": subscription["secret"]}
        writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])

        # The receiver is on loopback: private targets allowed, but over verified TLS.
        dispatcher = Dispatcher(
            webhook_database,
            webhook_settings(webhook_database, tmp_path, webhook_allow_http=False),
            ssl_context=authority.client_context(),
        )
        running = asyncio.create_task(dispatcher.run())
        try:
            family = await http.post("/api/v1/kpm", json=family_body(), headers=writer.headers)
            assert family.status_code == 201, family.text
            await receiver.wait_until(lambda: len(receiver.accepted("sidesa")) == 1)
            [first] = receiver.at("sidesa")
            assert first.verified_by == ["shown once"]
            assert first.message["type"] == "kpm.create"
            assert first.record_id == family.json()["id"]
            # Without pii:read, the subscriber's copy is masked as its REST read would be.
            nik = family_body()["members"][0]["nik"]
            assert nik not in first.body

            log = await until_delivered(http, subscriber.headers, subscription["id"], 1)
            [delivery] = log
            assert first.message_id == f"msg_{delivery['id']}"
            assert (delivery["attempts"], delivery["last_status_code"]) == (1, 200)

            redelivered = await http.post(
                f"/api/v1/webhooks/{subscription['id']}/deliveries/{delivery['id']}/redeliver",
                headers=subscriber.headers,
            )
            assert redelivered.status_code == 200, redelivered.text
            await receiver.wait_until(lambda: len(receiver.accepted("sidesa")) == 2)
            again = receiver.at("sidesa")[1]
            assert again.message_id == first.message_id
            assert again.body == first.body

            rotated = await http.post(
                f"/api/v1/webhooks/{subscription['id']}/rotate-secret",
                headers=subscriber.headers,
            )
            assert rotated.status_code == 200, rotated.text
            receiver.secrets = {"old": subscription["secret"], "new": rotated.json()["secret"]}
            another = await http.post(
                "/api/v1/kpm", json=family_body(no_kk="3328021605230002"), headers=writer.headers
            )
            assert another.status_code == 201, another.text
            await receiver.wait_until(lambda: len(receiver.accepted("sidesa")) == 3)
            assert receiver.at("sidesa")[2].verified_by == ["old", "new"]
        finally:
            dispatcher.stop()
            await running
