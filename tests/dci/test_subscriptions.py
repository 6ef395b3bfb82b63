"""``registry/subscribe``, ``registry/notify`` and ``registry/unsubscribe`` as a DCI subscriber
meets them: the subscription's code arrives in the ``on-subscribe`` callback; a family
registered through REST in the filter's village is notified (``REGISTER``), a member added to it
too (``NewHouseHoldMember``), one outside the filter is not; every message valid and signed;
after unsubscribing nothing more arrives."""

from __future__ import annotations

import datetime as dt
import uuid

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
    notified,
    now_text,
    receiver,
    subscribe_message,
    verify_callback,
)
from tests.dci.spec_check import assert_request_valid, assert_response_valid
from tests.factories import family_body, member_body
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

__all__ = ["dci_api", "dci_database", "dci_engine", "dci_settings", "dispatching", "receiver"]

OTHER_VILLAGE = "33.28.02.2002"
SUBSCRIBER_SCOPES = ["kpm:read", "changes:read"]


async def test_subscribe_notify_and_unsubscribe(
    dci_api: ApiRunner,
    dispatching: DispatcherRunner,
    receiver: Receiver,
    dci_engine: AsyncEngine,
) -> None:
    async with dci_api() as (http, clients):
        subscriber = await clients(region="33.28.02", scopes=SUBSCRIBER_SCOPES)
        writer = await clients(region="33.28.02", scopes=["kpm:read", "kpm:write"])
        codes = {}
        for event_type in ("REGISTER", "NewHouseHoldMember"):
            request = envelope(
                "subscribe", subscribe_message(event_type), sender_uri=receiver.url(event_type)
            )
            assert_request_valid("/registry/subscribe", request)
            acked = await http.post(
                "/dci/registry/subscribe", json=request, headers=subscriber.headers
            )
            assert acked.status_code == 200, acked.text
            assert_response_valid("/registry/subscribe", 200, acked.json())
            assert acked.json()["message"]["ack_status"] == "ACK"

        async with dispatching():
            for event_type in ("REGISTER", "NewHouseHoldMember"):
                await receiver.wait_until(count_is(receiver, event_type, 1))
                [on_subscribe] = receiver.at(event_type)
                body = on_subscribe.message
                await verify_callback(http, body, "/registry/on-subscribe")
                [answer] = body["message"]["subscribe_response"]
                assert answer["status"] == "succ", answer
                [info] = answer["subscriptions"]
                assert (info["status"], info["reg_event_type"]) == ("subscribe", event_type)
                codes[event_type] = info["code"]

            outside = await http.post(
                "/api/v1/kpm", json=family_body(OTHER_VILLAGE), headers=writer.headers
            )
            assert outside.status_code == 201, outside.text
            family = family_body()
            created = await http.post("/api/v1/kpm", json=family, headers=writer.headers)
            assert created.status_code == 201, created.text
            await receiver.wait_until(lambda: len(notified(receiver, "REGISTER")) == 1)
            [registered] = notified(receiver, "REGISTER")
            await verify_callback(http, registered, "/registry/notify")
            assert registered["header"]["meta"]["subscription_code"] == codes["REGISTER"]
            [event] = registered["message"]["notify_event"]
            assert event["data"]["reg_event_type"] == "REGISTER"
            assert event["data"]["reg_records"]["@id"].endswith(created.json()["id"])
            # Masked without pii:read, as REST masks it.
            assert family["no_kk"] not in str(registered)

            added = await http.post(
                f"/api/v1/kpm/{created.json()['id']}/members",
                json=member_body("ANAK", name="Wati", female=True, birth=dt.date(2016, 4, 2)),
                headers={**writer.headers, "If-Match": created.headers["ETag"]},
            )
            assert added.status_code == 201, added.text
            await receiver.wait_until(lambda: len(notified(receiver, "NewHouseHoldMember")) == 1)
            [new_member] = notified(receiver, "NewHouseHoldMember")
            await verify_callback(http, new_member, "/registry/notify")
            [event] = new_member["message"]["notify_event"]
            assert event["data"]["reg_event_type"] == "NewHouseHoldMember"
            assert event["data"]["reg_records"]["group_size"] == 4
            # The REGISTER subscription is told of the update too.
            await receiver.wait_until(lambda: len(notified(receiver, "REGISTER")) == 2)
            update = notified(receiver, "REGISTER")[1]
            assert update["header"]["meta"]["change"] == "update"
            assert update["header"]["meta"]["changed_fields"] == ["members"]
            [event] = update["message"]["notify_event"]
            assert event["data"]["reg_event_type"] == "REGISTER"

            request = envelope(
                "unsubscribe",
                {
                    "transaction_id": "t-unsubscribe",
                    "timestamp": now_text(),
                    "subscription_codes": [codes["REGISTER"], str(uuid.uuid4())],
                },
                sender_uri=receiver.url("unsubscribe"),
            )
            assert_request_valid("/registry/unsubscribe", request)
            acked = await http.post(
                "/dci/registry/unsubscribe", json=request, headers=subscriber.headers
            )
            assert acked.status_code == 200, acked.text
            assert_response_valid("/registry/unsubscribe", 200, acked.json())
            await receiver.wait_until(lambda: len(receiver.accepted("unsubscribe")) == 1)
            [on_unsubscribe] = receiver.at("unsubscribe")
            await verify_callback(http, on_unsubscribe.message, "/registry/on-unsubscribe")
            answer = on_unsubscribe.message["message"]
            # One code is not the subscriber's: rejected as such; its own is unsubscribed.
            assert answer["status_reason_code"] == "rjct.subscription_code.invalid"
            assert answer["subscription_status"] == [
                {"code": codes["REGISTER"], "status": "unsubscribe"}
            ]

            another = await http.post("/api/v1/kpm", json=family_body(), headers=writer.headers)
            assert another.status_code == 201, another.text
            # The other subscription, still live, is told nothing of a registration (it wants
            # new members only); a new member reaches it, and nothing reaches the ended one.
            added = await http.post(
                f"/api/v1/kpm/{another.json()['id']}/members",
                json=member_body("ANAK", name="Tono", birth=dt.date(2017, 8, 9)),
                headers={**writer.headers, "If-Match": another.headers["ETag"]},
            )
            assert added.status_code == 201, added.text
            await receiver.wait_until(lambda: len(notified(receiver, "NewHouseHoldMember")) == 2)
        assert len(notified(receiver, "REGISTER")) == 2
        # Nothing was even queued for the ended subscription.
        async with dci_engine.connect() as connection:
            queued = await connection.scalar(
                text(
                    "SELECT count(*) FROM webhook_delivery d"
                    " JOIN dci_subscription s ON s.channel_id = d.subscription_id"
                    " JOIN change_event e ON e.id = d.event_id"
                    " WHERE s.id = :code AND e.record_id = :family"
                ),
                {"code": uuid.UUID(codes["REGISTER"]), "family": another.json()["id"]},
            )
        assert queued == 0


async def test_a_filter_on_a_member_attribute_is_refused(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver
) -> None:
    async with dci_api() as (http, clients):
        subscriber = await clients(region=VILLAGE, scopes=SUBSCRIBER_SCOPES)
        message = subscribe_message("REGISTER")
        criteria = message["subscribe_request"][0]["subscribe_criteria"]
        criteria["filter"]["value"]["expression"]["query"] = {"sex": {"$eq": "P"}}
        request = envelope("subscribe", message, sender_uri=receiver.url("refused"))
        acked = await http.post("/dci/registry/subscribe", json=request, headers=subscriber.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        async with dispatching():
            await receiver.wait_until(lambda: len(receiver.accepted("refused")) == 1)
        body = receiver.at("refused")[0].message
        await verify_callback(http, body, "/registry/on-subscribe")
        [answer] = body["message"]["subscribe_response"]
        assert answer["status"] == "rjct"
        assert answer["status_reason_code"] == "rjct.notify_details.invalid"


async def test_subscribing_needs_the_change_feed_scope(
    dci_api: ApiRunner, receiver: Receiver
) -> None:
    async with dci_api() as (http, clients):
        reader = await clients(region=VILLAGE, scopes=["kpm:read"])
        request = envelope("subscribe", subscribe_message("REGISTER"), sender_uri=receiver.url("x"))
        refused = await http.post("/dci/registry/subscribe", json=request, headers=reader.headers)
        assert refused.status_code == 403, refused.text
        assert_response_valid("/registry/subscribe", 403, refused.json())
        assert refused.json()["errors"][0]["code"] == "err.request.forbidden"


async def test_a_family_outside_the_subscribers_region_is_never_notified(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver
) -> None:
    async with dci_api() as (http, clients):
        # Bound to one village, with a filter as wide as the regency.
        subscriber = await clients(region=VILLAGE, scopes=SUBSCRIBER_SCOPES)
        writer = await clients(region="33.28.02", scopes=["kpm:read", "kpm:write"])
        message = subscribe_message("REGISTER")
        criteria = message["subscribe_request"][0]["subscribe_criteria"]
        criteria["filter"]["value"]["expression"]["query"] = {"region": {"$eq": "33.28"}}
        request = envelope("subscribe", message, sender_uri=receiver.url("wide"))
        acked = await http.post("/dci/registry/subscribe", json=request, headers=subscriber.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        async with dispatching():
            for village in (OTHER_VILLAGE, VILLAGE):
                created = await http.post(
                    "/api/v1/kpm", json=family_body(village), headers=writer.headers
                )
                assert created.status_code == 201, created.text
            await receiver.wait_until(lambda: len(notified(receiver, "wide")) == 1)
        [only] = notified(receiver, "wide")
        [event] = only["message"]["notify_event"]
        assert event["data"]["reg_records"]["village_code"] == VILLAGE
        assert event["data"]["reg_records"]["@id"] == created.json()["id"]
