"""GraphQL requests as a client sends them, and the error code a caller would read."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import IssuedClient


async def gql(
    http: httpx.AsyncClient, client: IssuedClient, query: str, **variables: Any
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=client.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def error_code(result: dict[str, Any]) -> str | None:
    errors = result.get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None
