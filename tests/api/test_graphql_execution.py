"""How GraphQL requests run: bad variable values."""

from __future__ import annotations

import httpx

from tests.factories import ClientFactory


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
