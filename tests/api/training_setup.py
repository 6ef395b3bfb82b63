"""Requests that set up training data for the tests: people, cohorts, moves, enrolments and
attendance sheets."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import IssuedClient, cohort_body, family_body

OFFICE = ["kpm:read", "kpm:write", "training:read", "training:write", "facilitators:write"]
GUCI = "33.28.02.2001"


async def people(
    http: httpx.AsyncClient, client: IssuedClient, families: int, village: str = GUCI
) -> list[str]:
    """Member ids of ``families`` new families of three."""
    ids: list[str] = []
    for _ in range(families):
        response = await http.post("/api/v1/kpm", json=family_body(village), headers=client.headers)
        assert response.status_code == 201, response.text
        ids.extend(str(member["id"]) for member in response.json()["members"])
    return ids


async def create_cohort(
    http: httpx.AsyncClient, client: IssuedClient, **overrides: Any
) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/training-cohorts", json=cohort_body(**overrides), headers=client.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def move(
    http: httpx.AsyncClient, client: IssuedClient, cohort_id: str, to: str
) -> httpx.Response:
    return await http.post(
        f"/api/v1/training-cohorts/{cohort_id}/transitions", json={"to": to}, headers=client.headers
    )


async def enrol(
    http: httpx.AsyncClient, client: IssuedClient, cohort_id: str, member_id: str, **extra: Any
) -> httpx.Response:
    return await http.post(
        f"/api/v1/training-cohorts/{cohort_id}/participants",
        json={"member_id": member_id, **extra},
        headers=client.headers,
    )


async def sheet(
    http: httpx.AsyncClient,
    client: IssuedClient,
    cohort_id: str,
    session_id: str,
    present: dict[str, bool],
) -> httpx.Response:
    return await http.put(
        f"/api/v1/training-cohorts/{cohort_id}/sessions/{session_id}/attendance",
        json={"records": [{"participant_id": p, "present": v} for p, v in present.items()]},
        headers=client.headers,
    )
