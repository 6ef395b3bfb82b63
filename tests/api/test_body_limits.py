"""Request bodies over their route's limit are refused with 413 before anything parses them:
up front when Content-Length says so, and as they arrive when they come chunked."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from tests.factories import ClientFactory, money_headers, program_body

PROGRAMS = "/api/v1/programs"
BATCHES = "/api/v1/disbursements/batches"


def _assert_too_large(answer: httpx.Response) -> None:
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "content_too_large"
    assert problem["status"] == 413
    assert problem["request_id"]


def _batch(items: int) -> dict[str, object]:
    item = {
        "allocation_id": str(uuid.uuid4()),
        "recipient_kind": "kpm",
        "recipient_id": str(uuid.uuid4()),
        "amount": 2_500_000,
        "purpose": "Bantuan modal usaha KUBE tahap pertama",
        "channel": "bank_transfer",
        "period": "2026-Q1",
    }
    return {"items": [item] * items}


async def test_a_json_body_over_a_megabyte_is_refused_unparsed(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    body = program_body(code="OVERSIZE", name="Program " + "x" * 1_000_000)
    answer = await http.post(PROGRAMS, json=body, headers=client.headers)
    _assert_too_large(answer)
    # Not JSON at all, and still a 413, not a 422: nothing looked inside it.
    garbage = await http.post(
        PROGRAMS,
        content=b"{" * 1_000_001,
        headers={**client.headers, "Content-Type": "application/json"},
    )
    _assert_too_large(garbage)
    listed = await http.get(PROGRAMS, params={"limit": 500}, headers=client.headers)
    assert "OVERSIZE" not in {program["code"] for program in listed.json()["items"]}


async def test_a_chunked_body_is_counted_as_it_arrives(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    sent_chunks = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent_chunks
        yield b'{"code": "CHUNKED", "name": "'
        for _ in range(40):
            sent_chunks += 1
            yield b"x" * 100_000
        yield b'"}'

    answer = await http.post(
        PROGRAMS, content=chunks(), headers={**client.headers, "Content-Type": "application/json"}
    )
    _assert_too_large(answer)
    assert "content-length" not in answer.request.headers
    # Refused on the chunk that passed the limit, not after reading all 4 MB.
    assert sent_chunks <= 11


async def test_a_body_within_the_limit_is_parsed_as_before(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    body = program_body(code="UNDERLIMIT", name="x" * 500_000)
    answer = await http.post(PROGRAMS, json=body, headers=client.headers)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "name"


async def test_a_batch_has_room_for_ten_thousand_items(
    http: httpx.AsyncClient, clients: ClientFactory, app: FastAPI
) -> None:
    client = await clients()
    # One more item than a batch may hold, and past the general 1 MB limit: the body is read
    # and validated, so the refusal names `items` (no item is looked at, nothing is written).
    over_count = json.dumps(_batch(10_001), indent=2).encode()
    assert 1_000_000 < len(over_count) < app.state.settings.batch_body_max_bytes // 2
    answer = await http.post(
        BATCHES,
        content=over_count,
        headers={**money_headers(client), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "items"

    too_big = await http.post(
        BATCHES,
        content=b" " * (app.state.settings.batch_body_max_bytes + 1),
        headers={**money_headers(client), "Content-Type": "application/json"},
    )
    _assert_too_large(too_big)


async def test_the_declared_length_is_checked_before_anything_is_read(
    http: httpx.AsyncClient,
) -> None:
    # A reconciliation file may be 20 MB; a client announcing 21 MB is refused at once, even
    # before authentication, and the body it would have sent is never read.
    answer = await http.post(
        "/api/v1/disbursements/reconciliations",
        content=b"reference,status,amount,date\n",
        headers={"Content-Type": "text/csv", "Content-Length": str(21_000_000)},
    )
    _assert_too_large(answer)


async def test_every_operation_with_a_body_documents_its_limit(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    limits = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if "requestBody" in operation:
                response = operation["responses"].get("413")
                assert response is not None, (method, path)
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
                limits[(method, path)] = response["description"]
    assert "8,000,000 bytes" in limits[("post", BATCHES)]
    assert "1,000,000 bytes" in limits[("post", PROGRAMS)]
    assert "200,000,000 bytes" in limits[("post", "/api/v1/kpm/imports")]


async def test_graphql_bodies_have_the_same_limit(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    query = '{ regions(name: "' + "x" * 1_000_000 + '") { items { code } } }'
    answer = await http.post("/graphql", json={"query": query}, headers=client.headers)
    _assert_too_large(answer)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ regions(name: \\"'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'\\") { items { code } } }"}'

    streamed = await http.post(
        "/graphql", content=chunks(), headers={**client.headers, "Content-Type": "application/json"}
    )
    _assert_too_large(streamed)
