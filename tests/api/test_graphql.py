"""The GraphQL door's own guards: authentication, permissions on every mutation, and the limits
on query depth, aliases and size."""

from __future__ import annotations

from typing import Any

import httpx

from api.graphql.schema import Mutation
from tests.factories import ClientFactory, family_body


async def _query(
    http: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query}, headers=headers or {})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_every_mutation_declares_a_permission() -> None:
    fields = Mutation.__strawberry_definition__.fields  # type: ignore[attr-defined]
    assert fields
    undeclared = [field.python_name for field in fields if not field.permission_classes]
    assert undeclared == []


async def test_data_needs_a_token_but_the_schema_is_public(http: httpx.AsyncClient) -> None:
    refused = await _query(http, '{ region(code: "33") { name } }')
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "unauthorized"

    schema = await _query(http, "{ __schema { queryType { name } } }")
    assert schema["data"]["__schema"]["queryType"]["name"] == "Query"

    bad_token = await http.post(
        "/graphql",
        json={"query": '{ region(code: "33") { name } }'},
        headers={"Authorization": "Bearer nonsense"},
    )
    assert bad_token.status_code == 401


async def test_a_token_reads_data(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    client = await clients()
    body = await _query(
        http, '{ region(code: "3328022001") { code name parent { code } } }', client.headers
    )
    assert body["data"]["region"]["code"] == "33.28.02.2001"
    assert body["data"]["region"]["parent"]["code"] == "33.28.02"


async def test_depth_aliases_and_size_are_limited(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    deep = '{ region(code: "33.28.02.2001") { ' + "parent { " * 9 + "code" + " }" * 10 + " }"
    body = await _query(http, deep, client.headers)
    assert body.get("data") is None
    assert "depth" in body["errors"][0]["message"]

    aliases = " ".join(f'r{n}: region(code: "33") {{ code }}' for n in range(31))
    body = await _query(http, "{ " + aliases + " }", client.headers)
    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"].lower()

    huge = "{ " + " ".join("__typename" for _ in range(2100)) + " }"
    body = await _query(http, huge, client.headers)
    assert body.get("data") is None
    assert "token" in body["errors"][0]["message"].lower()

    within = '{ region(code: "33.28.02.2001") { ' + "parent { " * 3 + "code" + " }" * 4 + " }"
    body = await _query(http, within, client.headers)
    assert body["data"]["region"]["parent"]["parent"]["parent"]["code"] == "33"


async def test_sibling_fields_share_the_session_safely(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    # GraphQL runs sibling fields concurrently, and every one of them uses the request's one
    # database session; they must take turns rather than interleave on it.
    client = await clients(region="33.28")
    created = await http.post("/api/v1/kpm", json=family_body(), headers=client.headers)
    assert created.status_code == 201
    query = """{
        a: families(limit: 20) { items { id members { name } } }
        b: programs(limit: 20) { items { code } }
        c: kubeGroups(limit: 20) { items { id members { familyId } } }
        d: trainingCohorts(limit: 20) { items { id sessions { heldOn } } }
        e: regions(parentCode: "33.28") { items { code } }
        f: family(id: "FAMILY_ID") { id }
        g: region(code: "33.28.02") { name parent { name } }
    }""".replace("FAMILY_ID", created.json()["id"])
    for _ in range(5):
        body = await _query(http, query, client.headers)
        assert body.get("errors") is None, body["errors"]
        assert body["data"]["f"]["id"] == created.json()["id"]
        assert len(body["data"]["e"]["items"]) == 18
