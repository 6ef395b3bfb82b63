"""Every reason code the synchronous search answers, provoked: the envelope's in the header
(``status: rjct``, HTTP 200, as the spec answers a message), each search request's in its own
answer, and the transport errors as the spec's HttpErrorResponse (401/403). No answer repeats a
personal number the sender sent."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.dci.messages import by_expression, by_id, search, search_item, send
from tests.dci.spec_check import assert_response_valid
from tests.factories import ClientFactory, IssuedClient

NIK = "3326064101900007"


@pytest.fixture
async def reader(clients: ClientFactory) -> IssuedClient:
    return await clients(region="33.26.06", scopes=["kpm:read"])


def with_header(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**body, "header": {**body["header"], **fields}}


@pytest.mark.parametrize(
    ("change", "code", "valid"),
    [
        ({"version": "0.9.0"}, "rjct.version.invalid", True),
        ({"message_ts": "2099-01-01T00:00:00Z"}, "rjct.message_ts.invalid", True),
        ({"message_ts": "yesterday"}, "rjct.message_ts.invalid", False),
        ({"action": "subscribe"}, "rjct.action.invalid", False),
        ({"action": "frobnicate"}, "rjct.action.not_supported", False),
        ({"total_count": 3}, "rjct.total_count.invalid", True),
    ],
)
async def test_a_bad_header_is_refused_in_the_answers_header(
    http: httpx.AsyncClient, reader: IssuedClient, change: dict[str, Any], code: str, valid: bool
) -> None:
    body = with_header(search(by_id("NIK", NIK)), **change)
    answer = await send(http, "/registry/sync/search", body, reader, check_request=valid)
    assert answer.status == 200
    assert answer.header["status"] == "rjct"
    assert answer.header["status_reason_code"] == code
    assert answer.header["action"] == "on-search"
    assert "message" not in answer.body


async def test_too_many_requests_in_one_message(
    http: httpx.AsyncClient, reader: IssuedClient
) -> None:
    body = search(*[by_id("NIK", NIK) for _ in range(101)])
    answer = await send(http, "/registry/sync/search", body, reader)
    assert answer.header["status_reason_code"] == "rjct.total_count.limit_exceeded"


async def test_a_replayed_message_is_refused(http: httpx.AsyncClient, reader: IssuedClient) -> None:
    body = search(by_id("NIK", NIK))
    first = await send(http, "/registry/sync/search", body, reader)
    assert first.header["status"] == "succ"
    replay = await send(http, "/registry/sync/search", body, reader)
    assert replay.header["status"] == "rjct"
    assert replay.header["status_reason_code"] == "rjct.message_id.duplicate"


@pytest.mark.parametrize(
    "body", [[], {"hello": "world"}, {"header": {"action": "search"}}, "not an envelope"]
)
async def test_what_is_no_envelope_is_refused_without_a_code(
    http: httpx.AsyncClient, reader: IssuedClient, body: Any
) -> None:
    response = await http.post("/dci/registry/sync/search", json=body, headers=reader.headers)
    assert response.status_code == 200
    assert_response_valid("/registry/sync/search", 200, response.json())
    header = response.json()["header"]
    assert header["status"] == "rjct"
    assert "status_reason_code" not in header
    assert header["status_reason_message"]


@pytest.mark.parametrize(
    ("item", "code"),
    [
        (by_id("NIK", NIK, reference_id=""), "rjct.reference_id.invalid"),
        ({**by_id("NIK", NIK), "timestamp": "noon"}, "rjct.timestamp.invalid"),
        (by_id("PASSPORT", NIK), "rjct.search_criteria.invalid"),
        (by_id("NIK", "12345"), "rjct.search_criteria.invalid"),
        (by_expression({"shoe_size": {"$eq": 42}}), "rjct.search_criteria.invalid"),
        (by_expression({"desil": {"$regex": "1"}}), "rjct.search_criteria.invalid"),
        (by_expression({"desil": {"$eq": 11}}), "rjct.search_criteria.invalid"),
        (by_expression({"village_code": {"$lt": "33"}}), "rjct.search_criteria.invalid"),
        (by_expression({"$or": []}), "rjct.search_criteria.invalid"),
        (by_expression({"$or": [{"desil": d % 10 + 1} for d in range(300)]}),
         "rjct.search_criteria.invalid"),
        (search_item("predicate", [{"expression1": {"attribute_name": "desil",
                      "operator": "like", "attribute_value": "1"}}]),
         "rjct.search_criteria.invalid"),
        (by_id("NIK", NIK, sort=[{"attribute_name": "nik", "sort_order": "asc"}]),
         "rjct.sort.invalid"),
        (by_id("NIK", NIK, pagination={"page_size": 0}), "rjct.pagination.invalid"),
        (by_id("NIK", NIK, pagination={"page_size": 501}), "rjct.pagination.invalid"),
        (by_id("NIK", NIK, pagination={"page_size": 10, "page_number": 0}),
         "rjct.pagination.invalid"),
        (by_expression({"desil": 1}, pagination={"page_size": 500, "page_number": 21}),
         "rjct.search.too_many_records_found"),
    ],
)  # fmt: skip
async def test_a_bad_search_request_is_refused_by_its_reference(
    http: httpx.AsyncClient, reader: IssuedClient, item: dict[str, Any], code: str
) -> None:
    good = by_id("NIK", NIK)
    # What the spec's schema itself refuses is sent unchecked (a timestamp, an operator).
    valid = item["timestamp"] != "noon" and item["search_criteria"]["query_type"] != "predicate"
    answer = await send(http, "/registry/sync/search", search(item, good), reader,
                        check_request=valid)  # fmt: skip
    refused, answered = answer.items
    assert (refused["status"], refused["status_reason_code"]) == ("rjct", code)
    assert refused["reference_id"] == item["reference_id"]
    assert NIK not in refused["status_reason_message"]
    assert "12345" not in refused["status_reason_message"]
    assert (answered["reference_id"], answered["status"]) == (good["reference_id"], "succ")
    assert answer.header["status"] == "succ"  # the message itself went through


async def test_a_reused_reference_is_refused_the_second_time(
    http: httpx.AsyncClient, reader: IssuedClient
) -> None:
    first = by_id("NIK", NIK)
    answer = await send(http, "/registry/sync/search", search(first, dict(first)), reader)
    assert [item["status"] for item in answer.items] == ["succ", "rjct"]
    assert answer.items[1]["status_reason_code"] == "rjct.reference_id.duplicate"


async def test_all_requests_refused_refuses_the_message(
    http: httpx.AsyncClient, reader: IssuedClient
) -> None:
    answer = await send(http, "/registry/sync/search", search(by_id("KTP", NIK)), reader)
    assert answer.header["status"] == "rjct"
    assert answer.items[0]["status_reason_code"] == "rjct.search_criteria.invalid"


async def test_transport_errors_answer_the_specs_http_errors(
    http: httpx.AsyncClient, clients: ClientFactory, reader: IssuedClient
) -> None:
    body = search(by_id("NIK", NIK))
    unauthenticated = await send(http, "/registry/sync/search", body, None)
    assert unauthenticated.status == 401
    assert unauthenticated.body["errors"][0]["code"] == "err.request.unauthorized"

    no_scope = await clients(region="33.26.06", scopes=["kpm:write"])
    forbidden = await send(http, "/registry/sync/search", search(by_id("NIK", NIK)), no_scope)
    assert (forbidden.status, forbidden.body["errors"][0]["code"]) == (
        403,
        "err.request.forbidden",
    )

    for change, code in (
        ({"receiver_id": "another.registry.org"}, "err.receiver_id.invalid"),
        ({"is_msg_encrypted": True}, "err.encryption.invalid"),
    ):
        refused = await send(
            http, "/registry/sync/search", with_header(search(by_id("NIK", NIK)), **change), reader
        )
        assert (refused.status, refused.body["errors"][0]["code"]) == (403, code)


async def test_a_body_that_is_not_json_is_no_envelope(
    http: httpx.AsyncClient, reader: IssuedClient
) -> None:
    response = await http.post(
        "/dci/registry/sync/search",
        content=b"{not json",
        headers={**reader.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert_response_valid("/registry/sync/search", 200, response.json())
    assert response.json()["header"]["status"] == "rjct"


async def test_two_copies_of_a_message_at_once_answer_once(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    reader = await live_clients(region="33.26.06", scopes=["kpm:read"])
    for body in (search(by_id("NIK", NIK)), search(by_id("NIK", NIK), by_id("KK", NIK))):
        answers = await asyncio.gather(
            *(send(live_http, "/registry/sync/search", body, reader) for _ in range(4))
        )
        codes = sorted(answer.header.get("status_reason_code", "") for answer in answers)
        assert codes == ["", *["rjct.message_id.duplicate"] * 3]
