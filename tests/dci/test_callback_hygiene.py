"""What the outbox keeps of a DCI callback and what it does when one cannot go: the message
(unmasked personal data, for a client with ``pii:read``) is forgotten once it is delivered or
parked, the journal's answer stays; a callback whose client lost ``pii:read`` before it left is
never sent; a parked callback settles its transaction as ``rjct`` with a reason; a subscription
whose filter cannot be evaluated parks its notifications instead of blocking its channel."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dci.async_setup import (
    VILLAGE,
    ApiRunner,
    DispatcherRunner,
    count_is,
    dci_api,
    dci_database,
    dci_engine,
    dci_settings,
    dispatching,
    envelope,
    receiver,
    search_message,
    subscribe_message,
)
from tests.dci.spec_check import assert_response_valid
from tests.factories import family_body
from tests.webhooks.receiver import Received, Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

__all__ = ["dci_api", "dci_database", "dci_engine", "dci_settings", "dispatching", "receiver"]

DELIVERY = text(
    """
    SELECT d.status, d.body, d.dci_response, d.last_error
      FROM webhook_delivery d JOIN dci_transaction t ON t.id = d.dci_transaction_id
     WHERE t.transaction_id = :transaction_id
    """
)


async def _delivery(engine: AsyncEngine, transaction_id: str) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(DELIVERY, {"transaction_id": transaction_id})).one()


async def _settled(engine: AsyncEngine, transaction_id: str) -> Any:
    """The callback delivery of the transaction, once it is no longer pending."""
    async with asyncio.timeout(30):
        while (row := await _delivery(engine, transaction_id)).status == "pending":
            await asyncio.sleep(0.05)
    return row


async def _status_of(http: Any, sender: Any, transaction_id: str) -> dict[str, Any]:
    request = envelope(
        "txn-status",
        {
            "transaction_id": f"s-{uuid.uuid4().hex[:8]}",
            "txnstatus_request": {
                "reference_id": "status-1",
                "txn_type": "search",
                "attribute_type": "transaction_id",
                "attribute_value": transaction_id,
            },
        },
        sender_uri="http://127.0.0.1:9/unused",
    )
    answer = await http.post("/dci/registry/sync/txn/status", json=request, headers=sender.headers)
    assert answer.status_code == 200, answer.text
    assert_response_valid("/registry/sync/txn/status", 200, answer.json())
    [item] = answer.json()["message"]["txnstatus_response"]["txn_status"]["search_response"]
    return item  # type: ignore[no-any-return]


async def _searched_by_kk(
    http: Any, clients: Any, receiver: Receiver, path: str, *, scopes: list[str]
) -> tuple[Any, str, str]:
    """(sender, transaction_id, No KK) of an async search for a new family, acknowledged."""
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    sender = await clients(region=VILLAGE, scopes=scopes)
    family = family_body()
    created = await http.post("/api/v1/kpm", json=family, headers=writer.headers)
    assert created.status_code == 201, created.text
    request = envelope(
        "search",
        search_message("idtype-value", {"type": "KK", "value": family["no_kk"]}),
        sender_uri=receiver.url(path),
    )
    acked = await http.post("/dci/registry/search", json=request, headers=sender.headers)
    assert acked.json()["message"]["ack_status"] == "ACK", acked.text
    return sender, request["message"]["transaction_id"], family["no_kk"]


async def test_a_delivered_callback_forgets_its_unmasked_message(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver, dci_engine: AsyncEngine
) -> None:
    async with dci_api() as (http, clients):
        sender, transaction_id, no_kk = await _searched_by_kk(
            http, clients, receiver, "forget", scopes=["kpm:read", "pii:read"]
        )
        async with dispatching():
            await receiver.wait_until(count_is(receiver, "forget", 1))
            row = await _settled(dci_engine, transaction_id)
        assert no_kk in receiver.at("forget")[0].body  # sent unmasked
        assert row.status == "delivered"
        assert row.body is None
        assert no_kk not in str(row.dci_response)
        assert (await _status_of(http, sender, transaction_id))["status"] == "succ"


async def test_a_callback_is_not_sent_once_its_client_lost_pii_read(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver, dci_engine: AsyncEngine
) -> None:
    async with dci_api() as (http, clients):
        sender, transaction_id, _ = await _searched_by_kk(
            http, clients, receiver, "withdrawn", scopes=["kpm:read", "pii:read"]
        )
        async with dci_engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE api_client SET scopes = array_remove(scopes, 'pii:read') WHERE id = :id"
                ),
                {"id": uuid.UUID(sender.client_id)},
            )
        async with dispatching():
            row = await _settled(dci_engine, transaction_id)
        assert receiver.at("withdrawn") == []
        assert row.status == "parked"
        assert row.body is None
        assert "pii:read" in row.last_error
        status = await _status_of(http, sender, transaction_id)
        assert status["status"] == "rjct"
        assert "could not be delivered" in status["status_reason_message"]


async def test_a_parked_callback_settles_its_transaction_as_refused(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver, dci_engine: AsyncEngine
) -> None:
    async def refuse(_: Received) -> int:
        return 500

    receiver.answer = refuse
    async with dci_api() as (http, clients):
        sender, transaction_id, _ = await _searched_by_kk(
            http, clients, receiver, "refusing", scopes=["kpm:read"]
        )
        assert (await _status_of(http, sender, transaction_id))["status"] == "pdng"
        async with dispatching(webhook_retry_window_seconds=0.0):
            row = await _settled(dci_engine, transaction_id)
        assert row.status == "parked"
        assert row.body is None
        assert row.dci_response is not None
        assert (await _status_of(http, sender, transaction_id))["status"] == "rjct"


async def test_a_filter_that_cannot_be_evaluated_parks_its_notifications(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver, dci_engine: AsyncEngine
) -> None:
    async with dci_api() as (http, clients):
        subscriber = await clients(region="33.28.02", scopes=["kpm:read", "changes:read"])
        writer = await clients(region="33.28.02", scopes=["kpm:read", "kpm:write"])
        request = envelope(
            "subscribe", subscribe_message("REGISTER"), sender_uri=receiver.url("stale-filter")
        )
        acked = await http.post("/dci/registry/subscribe", json=request, headers=subscriber.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        # A filter stored before today's rules (no door accepts it now).
        bad = {"updated_at": {"$lt": "9999-12-31T23:59:59-23:59"}}
        async with dci_engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE dci_subscription SET filter = CAST(:filter AS jsonb)"
                    " WHERE transaction_id = :transaction_id"
                ),
                {
                    "filter": f'{{"type": "expression", "value": {{"expression": '
                    f'{{"collection": "Group", "query": {_json(bad)}}}}}}}',
                    "transaction_id": request["message"]["transaction_id"],
                },
            )
        created = await http.post("/api/v1/kpm", json=family_body(), headers=writer.headers)
        assert created.status_code == 201, created.text
        async with dispatching():
            await receiver.wait_until(count_is(receiver, "stale-filter", 1))  # on-subscribe
            async with asyncio.timeout(30):
                while await _pending_on(dci_engine, request["message"]["transaction_id"]):
                    await asyncio.sleep(0.05)
        async with dci_engine.connect() as connection:
            parked = (
                await connection.execute(
                    text(
                        "SELECT d.last_error FROM webhook_delivery d"
                        " JOIN dci_subscription s ON s.channel_id = d.subscription_id"
                        " WHERE s.transaction_id = :t AND d.event_id IS NOT NULL"
                    ),
                    {"t": request["message"]["transaction_id"]},
                )
            ).scalars().all()  # fmt: skip
        assert parked
        assert all("filter cannot be evaluated" in (error or "") for error in parked)
        assert [m.message["header"]["action"] for m in receiver.at("stale-filter")] == [
            "on-subscribe"
        ]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


async def _pending_on(engine: AsyncEngine, transaction_id: str) -> int:
    async with engine.connect() as connection:
        return int(
            await connection.scalar(
                text(
                    "SELECT count(*) FROM webhook_delivery d"
                    " JOIN dci_subscription s ON s.channel_id = d.subscription_id"
                    " WHERE s.transaction_id = :t AND d.status = 'pending'"
                ),
                {"t": transaction_id},
            )
            or 0
        )


async def test_a_filter_whose_moment_leaves_the_calendar_in_utc_is_refused_at_subscribe(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver
) -> None:
    async with dci_api() as (http, clients):
        subscriber = await clients(region="33.28.02", scopes=["kpm:read", "changes:read"])
        message = subscribe_message("REGISTER")
        criteria = message["subscribe_request"][0]["subscribe_criteria"]
        criteria["filter"]["value"]["expression"]["query"] = {
            "updated_at": {"$gt": "9999-12-31T23:59:59-23:59"}
        }
        request = envelope("subscribe", message, sender_uri=receiver.url("refused-filter"))
        acked = await http.post("/dci/registry/subscribe", json=request, headers=subscriber.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        async with dispatching():
            await receiver.wait_until(count_is(receiver, "refused-filter", 1))
        [answer] = receiver.at("refused-filter")[0].message["message"]["subscribe_response"]
        assert (answer["status"], answer["status_reason_code"]) == (
            "rjct",
            "rjct.notify_details.invalid",
        )
