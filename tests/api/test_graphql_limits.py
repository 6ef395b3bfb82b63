"""Limits of the GraphQL door: a cost limit on the records a request asks for, one operation
chosen by name, and bad input answered without an error log."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.factories import ClientFactory, family_body


async def _post(
    http: httpx.AsyncClient, headers: dict[str, str], query: str, **extra: Any
) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_thirty_full_pages_of_families_are_refused_before_they_run(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region="33.28")
    aliases = " ".join(f"f{n}: families(limit: 500) {{ items {{ id }} }}" for n in range(30))
    body = await _post(http, client.headers, "{ " + aliases + " }")
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "query_too_costly"
    assert "15000" in error["message"]


OWN_VILLAGE = "33.26.05.2001"


async def test_cost_counts_variables_defaults_and_fragments(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    # A village of its own: the first page of families must hold the one made here, whatever
    # other tests committed.
    client = await clients(region=OWN_VILLAGE)
    created = await http.post("/api/v1/kpm", json=family_body(OWN_VILLAGE), headers=client.headers)
    assert created.status_code == 201
    lists = "".join(f"{a}: families(limit: $n) {{ items {{ id }} }} " for a in "abc")
    within = await _post(
        http,
        client.headers,
        "query($n: Int!) { " + lists + "d: families { items { id } } }",
        variables={"n": 500},
    )
    assert "errors" not in within, within  # 3 x 500 + 50 (the default) = 1550
    assert created.json()["id"] in {f["id"] for f in within["data"]["d"]["items"]}

    at_limit = "query($n: Int!) { " + lists + "d: families(limit: 500) { items { id } } }"
    body = await _post(http, client.headers, at_limit, variables={"n": 500})
    assert "errors" not in body, body  # 2,000: the limit itself is allowed

    one_more = at_limit.replace("} } }", "} } e: programs(limit: 1) { items { code } } }")
    body = await _post(http, client.headers, one_more, variables={"n": 500})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "query_too_costly"
    assert "2001" in body["errors"][0]["message"]

    in_fragment = "query($n: Int!) { ...F } fragment F on Query { " + lists
    in_fragment += (
        "d: families(limit: 500) { items { id } } e: programs(limit: 1) { items { code } } }"
    )
    body = await _post(http, client.headers, in_fragment, variables={"n": 500})
    assert body["errors"][0]["extensions"]["code"] == "query_too_costly"


async def test_several_operations_need_an_operation_name(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    document = 'query A { programs { items { code } } } query B { region(code: "33") { name } }'
    refused = await _post(http, client.headers, document)
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "operation_name_required"
    chosen = await _post(http, client.headers, document, operationName="B")
    assert list(chosen["data"]) == ["region"]
    first = await _post(http, client.headers, document, operationName="A")
    assert "PKH" in {p["code"] for p in first["data"]["programs"]["items"]}


async def test_a_nul_character_is_the_client_s_error_and_not_logged(
    http: httpx.AsyncClient, clients: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = await clients(region="33.28")
    family = family_body(address="RT 02\x00RW 05")
    camel = {"no_kk": "noKk", "village_code": "villageCode", "birth_date": "birthDate"}
    family_input = {camel.get(k, k): v for k, v in family.items() if k != "programs"}
    family_input["members"] = [
        {camel.get(k, k): v for k, v in m.items()} for m in family["members"]
    ]
    listed = "query($f: FamilyFilterInput) { families(filter: $f) { items { id } } }"
    create = "mutation($i: FamilyCreateInput!) { createFamily(input: $i) { id } }"
    with caplog.at_level(logging.INFO):
        read = await _post(http, client.headers, listed, variables={"f": {"name": "Si\x00ti"}})
        write = await _post(http, client.headers, create, variables={"i": family_input})
    # The read reaches PostgreSQL, which refuses the value; the write is refused before it.
    assert read["errors"][0]["extensions"]["code"] == "invalid_value", read
    assert write["errors"][0]["extensions"]["code"] == "validation_failed", write
    for body in (read, write):
        assert body["errors"][0]["extensions"]["status"] == 422
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [r for r in caplog.records if r.exc_info] == []
    kept = await http.get("/api/v1/kpm", params={"no_kk": family["no_kk"]}, headers=client.headers)
    assert kept.json()["items"] == []
