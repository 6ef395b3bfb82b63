"""A client holds a bounded number of live DCI subscriptions (each one a channel the dispatcher
serves): past ``DINSOS_DCI_MAX_SUBSCRIPTIONS_PER_CLIENT`` a request is refused with the spec's
subscribe reason code, and unsubscribing frees a place."""

from __future__ import annotations

import pytest

from tests.dci.async_setup import (
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
    subscribe_message,
    verify_callback,
)
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

__all__ = ["dci_api", "dci_database", "dci_engine", "dci_settings", "dispatching", "receiver"]


async def test_subscriptions_past_the_limit_are_refused(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver
) -> None:
    async with dci_api(dci_max_subscriptions_per_client=2) as (http, clients):
        subscriber = await clients(region="33.28.02", scopes=["kpm:read", "changes:read"])
        message = subscribe_message("REGISTER")
        [item] = message["subscribe_request"]
        message["subscribe_request"] = [{**item, "reference_id": f"s{n}"} for n in range(3)]
        request = envelope("subscribe", message, sender_uri=receiver.url("limited"), total_count=3)
        acked = await http.post("/dci/registry/subscribe", json=request, headers=subscriber.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        again = envelope(
            "subscribe", subscribe_message("REGISTER"), sender_uri=receiver.url("more")
        )
        acked = await http.post("/dci/registry/subscribe", json=again, headers=subscriber.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        async with dispatching():
            await receiver.wait_until(count_is(receiver, "limited", 1))
            await receiver.wait_until(count_is(receiver, "more", 1))
        body = receiver.at("limited")[0].message
        await verify_callback(http, body, "/registry/on-subscribe")
        answers = body["message"]["subscribe_response"]
        assert [answer["status"] for answer in answers] == ["succ", "succ", "rjct"]
        assert answers[2]["status_reason_code"] == "rjct.notify_details.invalid"
        [refused] = receiver.at("more")[0].message["message"]["subscribe_response"]
        assert (refused["status"], refused["status_reason_code"]) == (
            "rjct",
            "rjct.notify_details.invalid",
        )
