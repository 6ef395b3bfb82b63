"""``registry/search`` as a DCI sender meets it: acknowledged at once, then the ``on-search``
message arrives at its callback address, valid against the spec and signed with the key the
registry publishes; ``txn/status`` says ``pdng`` until then and the answer after; a callback to
a disallowed address is never sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dci.async_setup import (
    VILLAGE,
    ApiRunner,
    DispatcherRunner,
    dci_api,
    dci_database,
    dci_engine,
    dci_settings,
    dispatching,
    envelope,
    receiver,
    search_message,
    verify_callback,
)
from tests.dci.spec_check import assert_request_valid, assert_response_valid
from tests.factories import family_body
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

__all__ = ["dci_api", "dci_database", "dci_engine", "dci_settings", "dispatching", "receiver"]

SEARCH_SCOPES = ["kpm:read"]


def _txn_status(transaction_id: str, *, sender_uri: str) -> dict[str, Any]:
    return envelope(
        "txn-status",
        {
            "transaction_id": f"s-{transaction_id}",
            "txnstatus_request": {
                "reference_id": "status-1",
                "txn_type": "search",
                "attribute_type": "transaction_id",
                "attribute_value": transaction_id,
            },
        },
        sender_uri=sender_uri,
    )


async def test_search_is_acknowledged_then_called_back_signed(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver
) -> None:
    async with dci_api() as (http, clients):
        writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
        sender = await clients(region=VILLAGE, scopes=SEARCH_SCOPES)
        family = family_body()
        created = await http.post("/api/v1/kpm", json=family, headers=writer.headers)
        assert created.status_code == 201, created.text

        request = envelope(
            "search",
            search_message("idtype-value", {"type": "KK", "value": family["no_kk"]}),
            sender_uri=receiver.url("on-search"),
        )
        assert_request_valid("/registry/search", request)
        acked = await http.post("/dci/registry/search", json=request, headers=sender.headers)
        assert acked.status_code == 200, acked.text
        assert_response_valid("/registry/search", 200, acked.json())
        ack = acked.json()["message"]
        assert ack["ack_status"] == "ACK"

        transaction_id = request["message"]["transaction_id"]
        status_request = _txn_status(transaction_id, sender_uri=receiver.url("unused"))
        pending = await http.post(
            "/dci/registry/sync/txn/status", json=status_request, headers=sender.headers
        )
        assert pending.status_code == 200, pending.text
        assert_response_valid("/registry/sync/txn/status", 200, pending.json())
        [before] = pending.json()["message"]["txnstatus_response"]["txn_status"]["search_response"]
        assert before["status"] == "pdng"

        async with dispatching():
            await receiver.wait_until(lambda: len(receiver.accepted("on-search")) == 1)
        [called_back] = receiver.at("on-search")
        body = called_back.message
        await verify_callback(http, body, "/registry/on-search")
        assert body["header"]["action"] == "on-search"
        assert body["header"]["receiver_id"] == request["header"]["sender_id"]
        assert body["message"]["correlation_id"] == ack["correlation_id"]
        assert body["message"]["transaction_id"] == transaction_id
        [answer] = body["message"]["search_response"]
        assert (answer["reference_id"], answer["status"]) == ("r1", "succ")
        [group] = answer["data"]["reg_records"]
        assert group["@id"] == created.json()["id"]
        # Without pii:read the No KK is masked, as REST masks it.
        assert family["no_kk"] not in called_back.body
        assert created.json()["no_kk"] in called_back.body

        # Delivered: txn/status tells the answer called back (its statuses and counts; the
        # journal keeps no records).
        settled = await http.post(
            "/dci/registry/sync/txn/status",
            json={**status_request, "header": {**status_request["header"], "message_id": "m2"}},
            headers=sender.headers,
        )
        [after] = settled.json()["message"]["txnstatus_response"]["txn_status"]["search_response"]
        assert after["status"] == "succ"
        assert after["pagination"]["total_count"] == 1
        assert "data" not in after


async def test_txn_status_is_called_back(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver
) -> None:
    async with dci_api() as (http, clients):
        sender = await clients(region=VILLAGE, scopes=SEARCH_SCOPES)
        request = envelope(
            "search",
            search_message("expression", {"village_code": {"$eq": VILLAGE}}),
            sender_uri=receiver.url("callbacks"),
        )
        acked = await http.post("/dci/registry/search", json=request, headers=sender.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        status_request = _txn_status(
            request["message"]["transaction_id"], sender_uri=receiver.url("callbacks")
        )
        assert_request_valid("/registry/txn/status", status_request)
        acked = await http.post(
            "/dci/registry/txn/status", json=status_request, headers=sender.headers
        )
        assert acked.status_code == 200, acked.text
        assert_response_valid("/registry/txn/status", 200, acked.json())

        async with dispatching():
            await receiver.wait_until(lambda: len(receiver.accepted("callbacks")) == 2)
        on_search, on_status = (received.message for received in receiver.at("callbacks"))
        # One address, one channel: the callbacks arrive in the order they were queued.
        assert on_search["header"]["action"] == "on-search"
        await verify_callback(http, on_status, "/registry/txn/on-status")
        assert on_status["header"]["action"] == "txn-on-status"
        status = on_status["message"]["txnstatus_response"]
        assert status["txn_type"] == "search"
        # Queued before the search's callback was delivered: still pending then.
        [item] = status["txn_status"]["search_response"]
        assert (item["reference_id"], item["status"]) == ("r1", "pdng")


async def test_a_refused_header_is_acknowledged_and_called_back_rejected(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver
) -> None:
    async with dci_api() as (http, clients):
        sender = await clients(region=VILLAGE, scopes=SEARCH_SCOPES)
        request = envelope(
            "search",
            search_message("idtype-value", {"type": "KK", "value": "3328021605230001"}),
            sender_uri=receiver.url("refused"),
        )
        first = await http.post("/dci/registry/search", json=request, headers=sender.headers)
        replay = await http.post("/dci/registry/search", json=request, headers=sender.headers)
        for acked in (first, replay):
            assert acked.status_code == 200, acked.text
            assert_response_valid("/registry/search", 200, acked.json())
            assert acked.json()["message"]["ack_status"] == "ACK"
        async with dispatching():
            await receiver.wait_until(lambda: len(receiver.accepted("refused")) == 2)
        answered, refused = (received.message for received in receiver.at("refused"))
        assert answered["header"]["status"] == "succ"
        await verify_callback(http, refused, "/registry/on-search")
        assert refused["header"]["status"] == "rjct"
        assert refused["header"]["status_reason_code"] == "rjct.message_id.duplicate"


async def test_not_an_envelope_is_an_err_ack(dci_api: ApiRunner) -> None:
    async with dci_api() as (http, clients):
        sender = await clients(region=VILLAGE, scopes=SEARCH_SCOPES)
        acked = await http.post("/dci/registry/search", content=b"not json", headers=sender.headers)
        assert acked.status_code == 200, acked.text
        assert_response_valid("/registry/search", 200, acked.json())
        assert acked.json()["message"]["ack_status"] == "ERR"
        assert acked.json()["message"]["error"]["code"] == "err.request.bad"


async def test_a_callback_to_a_disallowed_address_is_never_sent(
    dci_api: ApiRunner,
    dispatching: DispatcherRunner,
    receiver: Receiver,
    dci_engine: AsyncEngine,
) -> None:
    strict = {"webhook_allow_private_targets": False}
    async with dci_api(**strict) as (http, clients):
        sender = await clients(region=VILLAGE, scopes=SEARCH_SCOPES)
        query = {"village_code": {"$eq": VILLAGE}}
        # A literal loopback address: refused at once, nothing queued.
        literal = envelope(
            "search", search_message("expression", query), sender_uri=receiver.url("literal")
        )
        refused = await http.post("/dci/registry/search", json=literal, headers=sender.headers)
        assert refused.status_code == 403, refused.text
        assert_response_valid("/registry/search", 403, refused.json())
        assert refused.json()["errors"][0]["code"] == "err.sender_uri.invalid"

        # A name that resolves to loopback: acknowledged, and refused at every attempt.
        port = receiver.base_url.rsplit(":", 1)[1]
        named = envelope(
            "search",
            search_message("expression", query),
            sender_uri=f"http://localhost:{port}/named",
        )
        acked = await http.post("/dci/registry/search", json=named, headers=sender.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        async with dispatching(**strict):
            errors = await _attempt_errors(dci_engine, f"http://localhost:{port}/named")
        assert errors
        assert all(error.startswith("refused:") for error in errors)
        assert receiver.received == []


async def _attempt_errors(engine: AsyncEngine, url: str) -> list[str]:
    """The logged errors of the attempts to ``url``, once there are two."""
    query = text(
        """
        SELECT a.error FROM webhook_attempt a
          JOIN webhook_delivery d ON d.id = a.delivery_id
          JOIN webhook_subscription s ON s.id = d.subscription_id
         WHERE s.url = :url ORDER BY a.id
        """
    )
    async with asyncio.timeout(10):
        while True:
            async with engine.connect() as connection:
                errors = [row[0] for row in await connection.execute(query, {"url": url})]
            if len(errors) >= 2:
                return errors
            await asyncio.sleep(0.05)


async def test_a_family_outside_the_region_is_never_called_back(
    dci_api: ApiRunner, dispatching: DispatcherRunner, receiver: Receiver
) -> None:
    async with dci_api() as (http, clients):
        district = await clients(region="33.28.02", scopes=["kpm:read", "kpm:write"])
        village = await clients(region=VILLAGE, scopes=["kpm:read", "pii:read"])
        elsewhere = family_body("33.28.02.2003")
        created = await http.post("/api/v1/kpm", json=elsewhere, headers=district.headers)
        assert created.status_code == 201, created.text
        nik = elsewhere["members"][0]["nik"]
        request = envelope(
            "search",
            search_message("idtype-value", {"type": "NIK", "value": nik}),
            sender_uri=receiver.url("region"),
        )
        acked = await http.post("/dci/registry/search", json=request, headers=village.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        async with dispatching():
            await receiver.wait_until(lambda: len(receiver.accepted("region")) == 1)
        body = receiver.at("region")[0].message
        await verify_callback(http, body, "/registry/on-search")
        [answer] = body["message"]["search_response"]
        assert answer["status"] == "succ"
        assert answer["data"]["reg_records"] == []
        assert answer["pagination"]["total_count"] == 0
        assert elsewhere["no_kk"] not in receiver.at("region")[0].body
