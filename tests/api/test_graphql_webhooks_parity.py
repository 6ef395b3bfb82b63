"""The webhook operations REST has, through GraphQL: managing a subscription (the secret shown
only where REST shows it) and its delivery log; each read back through REST, and refused with
the code REST's problem carries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.auth.clients import operator
from service.journal import record_write
from service.webhooks.tables import WebhookAttempt, WebhookDelivery
from tests.api.graphql_calls import error_code, gql
from tests.api.webhook_setup import HOOK_URL, subscriber
from tests.factories import ClientFactory, IssuedClient

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

FIELDS = "id url eventTypes description status version"
CREATE = (
    f"""mutation($i: WebhookCreateInput!) {{ createWebhook(input: $i) {{ {FIELDS} secret }} }}"""
)


async def _create(client: IssuedClient, http: httpx.AsyncClient) -> dict[str, object]:
    created = await gql(
        http, client, CREATE, i={"url": HOOK_URL, "eventTypes": ["kpm"], "description": "SIDesa"}
    )
    assert error_code(created) is None, created
    return dict(created["data"]["createWebhook"])


async def test_create_shows_the_secret_once_and_reads_back(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await subscriber(clients, "33.28")
    hook = await _create(client, http)
    assert str(hook["secret"]).startswith("whsec_")
    rest = (await http.get(f"/api/v1/webhooks/{hook['id']}", headers=client.headers)).json()
    assert (rest["url"], rest["event_types"], rest["description"], rest["status"]) == (
        HOOK_URL,
        ["kpm"],
        "SIDesa",
        "active",
    )
    # Read again, the secret is not a field a subscription has.
    one = await gql(http, client, "query($h: UUID!) { webhook(id: $h) { secret } }", h=hook["id"])
    assert error_code(one) == "graphql_error"
    listed = await gql(http, client, f"{{ webhooks(limit: 10) {{ items {{ {FIELDS} }} }} }}")
    assert [h["id"] for h in listed["data"]["webhooks"]["items"]] == [hook["id"]]
    insecure = await gql(http, client, CREATE, i={"url": "http://sidesa.example.go.id/hook"})
    assert error_code(insecure) == "validation_failed"
    assert insecure["errors"][0]["extensions"]["errors"][0]["field"] == "url"
    no_scope = await clients(region="33.28", scopes=["changes:read"])
    refused = await gql(http, no_scope, "{ webhooks { items { id } } }")
    assert error_code(refused) == "insufficient_scope"


UPDATE = f"""mutation($h: UUID!, $v: Int!, $i: WebhookUpdateInput!) {{
    updateWebhook(id: $h, expectedVersion: $v, input: $i) {{ {FIELDS} }}
}}"""


async def test_update_rotate_and_delete(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    client = await subscriber(clients, "33.28")
    hook = await _create(client, http)
    url = f"/api/v1/webhooks/{hook['id']}"
    paused = await gql(http, client, UPDATE, h=hook["id"], v=1, i={"status": "paused"})
    assert paused["data"]["updateWebhook"]["status"] == "paused", paused
    assert (await http.get(url, headers=client.headers)).json()["status"] == "paused"
    stale = await gql(http, client, UPDATE, h=hook["id"], v=1, i={"description": "Lain"})
    assert error_code(stale) == "version_mismatch"

    rotated = await gql(
        http,
        client,
        "mutation($h: UUID!) { rotateWebhookSecret(id: $h) { secret version } }",
        h=hook["id"],
    )
    secret = rotated["data"]["rotateWebhookSecret"]["secret"]
    assert secret.startswith("whsec_")
    assert secret != hook["secret"]
    rest = (await http.get(url, headers=client.headers)).json()
    assert rest["previous_secret_expires_at"] is not None
    assert rest["version"] == rotated["data"]["rotateWebhookSecret"]["version"]

    delete = "mutation($h: UUID!, $v: Int) { deleteWebhook(id: $h, expectedVersion: $v) }"
    stale_delete = await gql(http, client, delete, h=hook["id"], v=1)
    assert error_code(stale_delete) == "version_mismatch"
    deleted = await gql(http, client, delete, h=hook["id"], v=rest["version"])
    assert deleted["data"]["deleteWebhook"] == hook["id"], deleted
    assert (await http.get(url, headers=client.headers)).status_code == 404
    assert error_code(await gql(http, client, delete, h=hook["id"])) == "not_found"


async def _log(session: AsyncSession, hook: str) -> list[WebhookDelivery]:
    """Two changes queued for the subscription: the first parked after a try, the second
    delivered."""
    for _ in range(2):
        await record_write(
            session,
            operator(),
            action="update",
            entity="kpm",
            record_id=str(uuid.uuid4()),
            region_code="33.28.02.2001",
            version=2,
            changes={"address": ["a", "b"]},
        )
    parked, delivered = (
        await session.scalars(
            select(WebhookDelivery)
            .where(col(WebhookDelivery.subscription_id) == hook)
            .order_by(col(WebhookDelivery.id))
        )
    ).all()
    assert parked.id is not None
    parked.status, parked.attempts, parked.last_status_code = "parked", 1, 503
    delivered.status, delivered.attempts, delivered.delivered_at = "delivered", 1, datetime.now(UTC)
    session.add(WebhookAttempt(delivery_id=parked.id, status_code=503, duration_ms=80))
    await session.flush()
    return [parked, delivered]


LOG = """query($h: UUID!, $s: String) { webhookDeliveries(webhookId: $h, status: $s) {
    items { id eventId recordId status attempts lastStatusCode } nextCursor
} }"""
ONE = """query($h: UUID!, $d: ID!) { webhookDelivery(webhookId: $h, id: $d) {
    id status attemptLog { statusCode durationMs }
} }"""


async def test_delivery_log_and_redelivery(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await subscriber(clients, "33.28")
    hook = str((await _create(client, http))["id"])
    parked, delivered = await _log(session, hook)
    url = f"/api/v1/webhooks/{hook}"

    read = (await gql(http, client, LOG, h=hook))["data"]["webhookDeliveries"]["items"]
    rest = (await http.get(f"{url}/deliveries", headers=client.headers)).json()["items"]
    assert [(int(d["id"]), int(d["eventId"]), d["recordId"], d["status"]) for d in read] == [
        (d["id"], d["event_id"], d["record_id"], d["status"]) for d in rest
    ]
    only_parked = (await gql(http, client, LOG, h=hook, s="parked"))["data"]["webhookDeliveries"]
    assert [d["id"] for d in only_parked["items"]] == [str(parked.id)]
    assert error_code(await gql(http, client, LOG, h=hook, s="lost")) == "validation_failed"

    one = (await gql(http, client, ONE, h=hook, d=str(parked.id)))["data"]["webhookDelivery"]
    assert one["attemptLog"] == [{"statusCode": 503, "durationMs": 80}]
    assert error_code(await gql(http, client, ONE, h=hook, d="0")) == "validation_failed"
    assert error_code(await gql(http, client, ONE, h=hook, d="999999999")) == "not_found"

    again = await gql(
        http,
        client,
        "mutation($h: UUID!, $d: ID!) { redeliverWebhookDelivery(webhookId: $h, id: $d) "
        "{ status attempts } }",
        h=hook,
        d=str(delivered.id),
    )
    assert again["data"]["redeliverWebhookDelivery"] == {"status": "pending", "attempts": 0}
    rest_one = (await http.get(f"{url}/deliveries/{delivered.id}", headers=client.headers)).json()
    assert rest_one["status"] == "pending"

    parked_again = await gql(
        http,
        client,
        "mutation($h: UUID!) { redeliverParkedWebhookDeliveries(webhookId: $h) { redelivered } }",
        h=hook,
    )
    assert parked_again["data"]["redeliverParkedWebhookDeliveries"] == {"redelivered": 1}
    statuses = (await http.get(f"{url}/deliveries", headers=client.headers)).json()["items"]
    assert {d["status"] for d in statuses} == {"pending"}
    stranger = await subscriber(clients, "33.28")
    assert error_code(await gql(http, stranger, LOG, h=hook)) == "not_found"
