"""Requests that really run in parallel, each on its own connection and transaction."""

from __future__ import annotations

import asyncio

import httpx

from tests.factories import ClientFactory, program_body


async def test_parallel_patches_on_one_version_let_exactly_one_win(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    client = await live_clients(region="33.28")
    body = program_body()
    assert (
        await live_http.post("/api/v1/programs", json=body, headers=client.headers)
    ).status_code == 201
    url = f"/api/v1/programs/{body['code']}"
    headers = {**client.headers, "If-Match": '"1"'}

    responses = await asyncio.gather(
        *(live_http.patch(url, json={"name": f"Writer {n}"}, headers=headers) for n in range(8))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 7
    winner = next(response for response in responses if response.status_code == 200)
    final = (await live_http.get(url, headers=client.headers)).json()
    assert final["version"] == 2
    assert final["name"] == winner.json()["name"]


async def test_parallel_creates_of_one_code_give_one_program(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    client = await live_clients()
    body = program_body()
    responses = await asyncio.gather(
        *(live_http.post("/api/v1/programs", json=body, headers=client.headers) for _ in range(6))
    )
    assert sorted(response.status_code for response in responses) == [201] + [409] * 5
    listed = (await live_http.get("/api/v1/programs?limit=500", headers=client.headers)).json()
    assert [item["code"] for item in listed["items"]].count(body["code"]) == 1
