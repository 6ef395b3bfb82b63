"""The GraphQL door's own guards: authentication, permissions on every mutation, and the limits
on query depth, aliases and size."""

from __future__ import annotations

from typing import Any

import httpx

from api.graphql.schema import Mutation
from tests.factories import ClientFactory


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
