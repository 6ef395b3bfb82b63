"""``registry/sync/txn/status``: a client asks after its earlier search by transaction_id,
correlation_id or reference ids and gets each request's status and the answer it was given;
another client's transactions are never found."""

from __future__ import annotations

from typing import Any

import httpx

from tests.dci.messages import by_id, header, search, send
from tests.factories import ClientFactory, family_body

VILLAGE = "33.26.06.2004"


def status_request(attribute: str, value: Any, txn_type: str = "search") -> dict[str, Any]:
    return {
        "header": header("txn-status", 1),
        "message": {
            "transaction_id": "txn-status-1",
            "txnstatus_request": {
                "reference_id": "status-ref-1",
                "txn_type": txn_type,
                "attribute_type": attribute,
                "attribute_value": value,
            },
        },
    }


async def test_a_client_finds_its_earlier_search(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    body = family_body(VILLAGE)
    assert (await http.post("/api/v1/kpm", json=body, headers=writer.headers)).status_code == 201
    reader = await clients(region=VILLAGE, scopes=["kpm:read"])
    found, refused = by_id("NIK", body["members"][0]["nik"]), by_id("PASSPORT", "A1")
    asked = search(found, refused)
    answered = await send(http, "/registry/sync/search", asked, reader)
    correlation_id = answered.body["message"]["correlation_id"]

    for attribute, value in (
        ("transaction_id", asked["message"]["transaction_id"]),
        ("correlation_id", correlation_id),
    ):
        status = await send(http, "/registry/sync/txn/status", status_request(attribute, value),
                            reader)  # fmt: skip
        assert status.header["action"] == "txn-on-status"
        assert status.header["status"] == "succ"
        txn = status.body["message"]["txnstatus_response"]
        assert txn["txn_type"] == "search"
        assert txn["txn_status"]["correlation_id"] == correlation_id
        # Each request's status, reason and page counts; the records are not kept again.
        assert txn["txn_status"]["search_response"] == [
            {name: value for name, value in item.items() if name != "data"}
            for item in answered.items
        ]

    by_reference = await send(
        http, "/registry/sync/txn/status",
        status_request("reference_id_list", [refused["reference_id"]]), reader,
    )  # fmt: skip
    (item,) = by_reference.body["message"]["txnstatus_response"]["txn_status"]["search_response"]
    assert (item["reference_id"], item["status"]) == (refused["reference_id"], "rjct")

    stranger = await clients(region=VILLAGE, scopes=["kpm:read"])
    theirs = await send(
        http, "/registry/sync/txn/status",
        status_request("transaction_id", asked["message"]["transaction_id"]), stranger,
    )  # fmt: skip
    assert theirs.header["status"] == "rjct"
    assert theirs.body["message"]["txnstatus_response"]["txn_status"]["search_response"] == []


async def test_a_malformed_status_request_is_refused(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    reader = await clients(region=VILLAGE, scopes=["kpm:read"])
    body = status_request("phone_number", "0812")
    answer = await send(http, "/registry/sync/txn/status", body, reader, check_request=False)
    assert answer.status == 200
    assert answer.header["status"] == "rjct"
    assert "0812" not in answer.header["status_reason_message"]


async def test_a_lookup_by_nik_is_kept_with_its_count(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    body = family_body(VILLAGE)
    assert (await http.post("/api/v1/kpm", json=body, headers=writer.headers)).status_code == 201
    reader = await clients(region=VILLAGE, scopes=["kpm:read"])
    asked = search(by_id("NIK", body["members"][1]["nik"]))
    answered = await send(http, "/registry/sync/search", asked, reader)
    assert answered.items[0]["pagination"]["total_count"] == 1

    status = await send(
        http, "/registry/sync/txn/status",
        status_request("transaction_id", asked["message"]["transaction_id"]), reader,
    )  # fmt: skip
    txn_status = status.body["message"]["txnstatus_response"]["txn_status"]
    assert txn_status["correlation_id"] == answered.body["message"]["correlation_id"]
    (item,) = txn_status["search_response"]
    assert item["status"] == "succ"
    assert item["pagination"] == {"page_size": 50, "page_number": 1, "total_count": 1}
    assert "data" not in item
