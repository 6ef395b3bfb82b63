"""The delivery log and redelivery read back what the tables hold. Sending is the dispatcher's
part: here the outcome of each try is written straight into the tables, as it would write it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.auth.clients import operator
from service.journal import record_write
from service.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests.api.webhook_setup import subscribe, subscriber
from tests.factories import ClientFactory, IssuedClient

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

VILLAGE = "33.28.02.2001"
LATER = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass
class Log:
    client: IssuedClient
    hook: str
    # Oldest first: delivered, parked, pending (retrying later).
    deliveries: list[WebhookDelivery]
    records: list[str]

    def url(self, tail: str = "") -> str:
        return f"/api/v1/webhooks/{self.hook}{tail}"


async def _changes(session: AsyncSession, count: int) -> list[str]:
    records = [str(uuid.uuid4()) for _ in range(count)]
    for record in records:
        await record_write(
            session,
            operator(),
            action="update",
            entity="kpm",
            record_id=record,
            region_code=VILLAGE,
            version=2,
            changes={"address": ["a", "b"]},
        )
    return records


async def _deliveries(session: AsyncSession, hook: str) -> list[WebhookDelivery]:
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(col(WebhookDelivery.subscription_id) == hook)
        .order_by(col(WebhookDelivery.id))
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


@pytest.fixture
async def log(http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession) -> Log:
    """A failing subscription with three deliveries: one delivered, one parked after two tries,
    one pending its third try."""
    client = await subscriber(clients, "33.28")
    hook = (await subscribe(http, client))["id"]
    records = await _changes(session, 3)
    delivered, parked, pending = await _deliveries(session, hook)
    assert delivered.id is not None
    assert parked.id is not None
    now = datetime.now(UTC)
    delivered.status, delivered.attempts, delivered.last_status_code = "delivered", 1, 204
    delivered.delivered_at = now
    parked.status, parked.attempts, parked.last_status_code = "parked", 2, 503
    parked.last_error = "HTTP 503 from the receiver"
    pending.attempts, pending.last_error, pending.next_attempt_at = 2, "timed out", LATER
    session.add_all(
        [
            WebhookAttempt(delivery_id=delivered.id, status_code=204, duration_ms=40),
            WebhookAttempt(
                delivery_id=parked.id,
                attempted_at=now - timedelta(minutes=5),
                status_code=500,
                error="HTTP 500 from the receiver",
                duration_ms=120,
            ),
            WebhookAttempt(
                delivery_id=parked.id,
                attempted_at=now,
                status_code=503,
                error="HTTP 503 from the receiver",
                duration_ms=80,
            ),
        ]
    )
    subscription = await session.get_one(WebhookSubscription, hook)
    subscription.status, subscription.failing_since = "failing", now
    await session.flush()
    return Log(client, hook, [delivered, parked, pending], records)


async def test_the_log_lists_newest_first_with_each_outcome(
    http: httpx.AsyncClient, log: Log
) -> None:
    page = (await http.get(log.url("/deliveries"), headers=log.client.headers)).json()
    items = page["items"]
    assert [item["id"] for item in items] == [d.id for d in reversed(log.deliveries)]
    assert [item["record_id"] for item in items] == list(reversed(log.records))
    pending, parked, delivered = items
    assert (delivered["status"], delivered["attempts"], delivered["last_status_code"]) == (
        "delivered",
        1,
        204,
    )
    assert delivered["delivered_at"] is not None
    assert delivered["next_attempt_at"] is None
    assert (parked["status"], parked["attempts"], parked["last_error"]) == (
        "parked",
        2,
        "HTTP 503 from the receiver",
    )
    assert (pending["status"], pending["last_error"]) == ("pending", "timed out")
    assert datetime.fromisoformat(pending["next_attempt_at"]) == LATER
    assert {(item["event_type"], item["action"]) for item in items} == {("kpm", "update")}
    assert [item["event_id"] for item in items] == [d.event_id for d in reversed(log.deliveries)]


async def test_the_log_is_paged_and_filtered_by_status(http: httpx.AsyncClient, log: Log) -> None:
    first = (await http.get(log.url("/deliveries?limit=2"), headers=log.client.headers)).json()
    rest = (
        await http.get(
            log.url("/deliveries"),
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=log.client.headers,
        )
    ).json()
    assert [item["id"] for item in first["items"] + rest["items"]] == [
        d.id for d in reversed(log.deliveries)
    ]
    assert rest["next_cursor"] is None
    parked = (
        await http.get(log.url("/deliveries?status=parked"), headers=log.client.headers)
    ).json()
    assert [item["id"] for item in parked["items"]] == [log.deliveries[1].id]


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=lost", "status"), ("cursor=bm9wZQ", "cursor"), ("limit=0", "limit")],
)
async def test_bad_log_queries_name_the_field(
    http: httpx.AsyncClient, log: Log, query: str, field: str
) -> None:
    response = await http.get(log.url(f"/deliveries?{query}"), headers=log.client.headers)
    assert response.status_code == 422, response.text
    assert field in {error["field"] for error in response.json()["errors"]}


async def test_a_delivery_shows_every_attempt(http: httpx.AsyncClient, log: Log) -> None:
    parked = log.deliveries[1]
    body = (await http.get(log.url(f"/deliveries/{parked.id}"), headers=log.client.headers)).json()
    assert body["status"] == "parked"
    assert [(a["status_code"], a["error"], a["duration_ms"]) for a in body["attempt_log"]] == [
        (500, "HTTP 500 from the receiver", 120),
        (503, "HTTP 503 from the receiver", 80),
    ]


async def test_a_delivery_of_another_subscription_is_not_found(
    http: httpx.AsyncClient, log: Log
) -> None:
    other = (await subscribe(http, log.client))["id"]  # the same client's, but not this one's
    delivery = log.deliveries[0].id
    for answer in (
        await http.get(
            f"/api/v1/webhooks/{other}/deliveries/{delivery}", headers=log.client.headers
        ),
        await http.post(
            f"/api/v1/webhooks/{other}/deliveries/{delivery}/redeliver", headers=log.client.headers
        ),
        await http.get(log.url("/deliveries/999999999999"), headers=log.client.headers),
    ):
        assert answer.status_code == 404
    bad = await http.get(log.url("/deliveries/not-a-number"), headers=log.client.headers)
    assert bad.status_code == 422


async def test_redelivering_the_last_parked_one_makes_the_subscription_active(
    http: httpx.AsyncClient, log: Log, session: AsyncSession
) -> None:
    parked = log.deliveries[1]
    answer = await http.post(
        log.url(f"/deliveries/{parked.id}/redeliver"), headers=log.client.headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["attempts"]) == ("pending", 0)
    assert datetime.fromisoformat(body["next_attempt_at"]) <= datetime.now(UTC)
    assert len(body["attempt_log"]) == 2  # the log keeps every try
    hook = (await http.get(log.url(), headers=log.client.headers)).json()
    assert (hook["status"], hook["failing_since"]) == ("active", None)
    again = await http.post(
        log.url(f"/deliveries/{parked.id}/redeliver"), headers=log.client.headers
    )
    assert again.json() == body  # idempotent
    assert (await http.get(log.url(), headers=log.client.headers)).json() == hook
    stored = (await _deliveries(session, log.hook))[1]
    assert (stored.status, stored.attempts) == ("pending", 0)


async def test_redelivering_a_delivered_one_sends_it_again(
    http: httpx.AsyncClient, log: Log, session: AsyncSession
) -> None:
    delivered = log.deliveries[0]
    body = (
        await http.post(
            log.url(f"/deliveries/{delivered.id}/redeliver"), headers=log.client.headers
        )
    ).json()
    assert (body["status"], body["delivered_at"]) == ("pending", None)
    # A parked one is still there: the subscription stays failing.
    hook = (await http.get(log.url(), headers=log.client.headers)).json()
    assert hook["status"] == "failing"
    stored = (await _deliveries(session, log.hook))[0]
    assert (stored.status, stored.delivered_at) == ("pending", None)


async def test_a_pending_delivery_is_left_as_it_is(
    http: httpx.AsyncClient, log: Log, session: AsyncSession
) -> None:
    pending = log.deliveries[2]
    body = (
        await http.post(log.url(f"/deliveries/{pending.id}/redeliver"), headers=log.client.headers)
    ).json()
    assert (body["status"], body["attempts"]) == ("pending", 2)
    assert datetime.fromisoformat(body["next_attempt_at"]) == LATER


async def test_redeliver_parked_takes_them_all(
    http: httpx.AsyncClient, log: Log, session: AsyncSession
) -> None:
    await _changes(session, 2)
    for delivery in (await _deliveries(session, log.hook))[3:]:
        delivery.status = "parked"
    await session.flush()
    answer = await http.post(log.url("/redeliver-parked"), headers=log.client.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"redelivered": 3}
    statuses = [d.status for d in await _deliveries(session, log.hook)]
    assert statuses == ["delivered", "pending", "pending", "pending", "pending"]
    assert (await http.get(log.url(), headers=log.client.headers)).json()["status"] == "active"
    again = await http.post(log.url("/redeliver-parked"), headers=log.client.headers)
    assert again.json() == {"redelivered": 0}


async def test_a_paused_failing_subscription_stays_paused_after_redelivery(
    http: httpx.AsyncClient, log: Log
) -> None:
    hook = (await http.get(log.url(), headers=log.client.headers)).json()
    paused = await http.patch(
        log.url(),
        json={"status": "paused"},
        headers={**log.client.headers, "If-Match": f'"{hook["version"]}"'},
    )
    assert paused.json()["status"] == "paused"
    resumed = await http.patch(
        log.url(),
        json={"status": "active"},
        headers={**log.client.headers, "If-Match": f'"{paused.json()["version"]}"'},
    )
    assert resumed.json()["status"] == "failing"  # its parked delivery is still there
    paused = await http.patch(
        log.url(),
        json={"status": "paused"},
        headers={**log.client.headers, "If-Match": f'"{resumed.json()["version"]}"'},
    )
    await http.post(log.url("/redeliver-parked"), headers=log.client.headers)
    after = (await http.get(log.url(), headers=log.client.headers)).json()
    assert (after["status"], after["failing_since"]) == ("paused", None)


async def test_deleting_drops_what_was_waiting_and_keeps_the_rest(
    http: httpx.AsyncClient, log: Log, session: AsyncSession
) -> None:
    assert (await http.delete(log.url(), headers=log.client.headers)).status_code == 204
    left = [(d.id, d.status) for d in await _deliveries(session, log.hook)]
    assert left == [(log.deliveries[0].id, "delivered"), (log.deliveries[1].id, "parked")]
    # And nothing more is queued for it.
    await _changes(session, 1)
    assert len(await _deliveries(session, log.hook)) == 2
