"""How GraphQL requests run: several root fields in one query, and bad variable values."""

from __future__ import annotations

import httpx

from tests.factories import ClientFactory, family_body


async def test_several_root_fields_in_one_query(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """The root fields share the request's database session; they take turns."""
    client = await clients(region="33.28")
    family = family_body()
    created = await http.post("/api/v1/kpm", json=family, headers=client.headers)
    assert created.status_code == 201
    query = (
        "query($k: String!) { programs { items { code } }"
        " families(filter: {noKk: $k}) { items { id } }"
        ' regions(parentCode: "33.28", limit: 3) { items { code parent { name } } } }'
    )
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": {"k": family["no_kk"]}},
        headers=client.headers,
    )
    body = response.json()
    assert "errors" not in body, body
    assert [f["id"] for f in body["data"]["families"]["items"]] == [created.json()["id"]]
    assert "PKH" in {p["code"] for p in body["data"]["programs"]["items"]}
    assert len(body["data"]["regions"]["items"]) == 3


async def test_a_bad_variable_value_is_the_client_s_error(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    response = await http.post(
        "/graphql",
        json={
            "query": "query($n: Int!) { programs(limit: $n) { items { code } } }",
            "variables": {"n": "many"},
        },
        headers=client.headers,
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "graphql_error"
    assert error["extensions"]["status"] == 400
    assert "$n" in error["message"]
