"""Requests that set up KUBE data for the tests: families, groups, their status, grant moves."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import IssuedClient, family_body, kube_group_body

GUCI = "33.28.02.2001"  # a village of Bumijawa, Kabupaten Tegal
OFFICE = ["kpm:read", "kpm:write", "kube:read", "kube:write", "facilitators:read"]


async def families(
    http: httpx.AsyncClient, client: IssuedClient, count: int, village: str = GUCI
) -> list[str]:
    ids = []
    for _ in range(count):
        response = await http.post("/api/v1/kpm", json=family_body(village), headers=client.headers)
        assert response.status_code == 201, response.text
        ids.append(str(response.json()["id"]))
    return ids


async def create_group(
    http: httpx.AsyncClient, client: IssuedClient, family_ids: list[str], **overrides: Any
) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/kube",
        json=kube_group_body(family_ids=family_ids, **overrides),
        headers=client.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def move(
    http: httpx.AsyncClient, client: IssuedClient, group_id: str, to: str, **extra: Any
) -> httpx.Response:
    return await http.post(
        f"/api/v1/kube/{group_id}/transitions", json={"to": to, **extra}, headers=client.headers
    )


async def active_group(
    http: httpx.AsyncClient, client: IssuedClient, village: str = GUCI
) -> dict[str, Any]:
    group = await create_group(
        http, client, await families(http, client, 5, village), village_code=village
    )
    response = await move(http, client, group["id"], "active")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def grant_move(
    http: httpx.AsyncClient, client: IssuedClient, grant_id: str, to: str, note: str | None = None
) -> httpx.Response:
    return await http.post(
        f"/api/v1/kube-grants/{grant_id}/transitions",
        json={"to": to, "note": note},
        headers=client.headers,
    )


# --- groups ----------------------------------------------------------------------------------
