"""Verification visits, enrollment and graduation, facilitators."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.factories import ClientFactory, IssuedClient, family_body

DISTRICT_OFFICE = [
    "kpm:read",
    "kpm:write",
    "facilitators:read",
    "facilitators:write",
]


async def _family(
    http: httpx.AsyncClient, client: IssuedClient, **overrides: Any
) -> dict[str, Any]:
    response = await http.post("/api/v1/kpm", json=family_body(**overrides), headers=client.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _facilitator(
    http: httpx.AsyncClient, client: IssuedClient, region: str = "33.28.02", **extra: Any
) -> dict[str, Any]:
    body = {"name": "Bu Nurhayati", "kind": "PKH", "region_code": region, "yearly_target": 5}
    response = await http.post(
        "/api/v1/facilitators", json={**body, **extra}, headers=client.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_verification_history_and_latest_status(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=DISTRICT_OFFICE)
    facilitator = await _facilitator(http, office)
    family = await _family(http, office)
    url = f"/api/v1/kpm/{family['id']}/verifications"
    visits = [
        ("2026-03-02", "eligible"),
        ("2026-09-14", "moved"),
        ("2026-06-10", "eligible"),  # recorded late: older than the latest visit
    ]
    for visited_on, outcome in visits:
        response = await http.post(
            url,
            json={
                "visited_on": visited_on,
                "outcome": outcome,
                "facilitator_id": facilitator["id"],
                "notes": "kunjungan rumah",
            },
            headers=office.headers,
        )
        assert response.status_code == 201, response.text

    history = (await http.get(url, headers=office.headers)).json()
    assert [(v["visited_on"], v["outcome"]) for v in history] == [
        ("2026-09-14", "moved"),
        ("2026-06-10", "eligible"),
        ("2026-03-02", "eligible"),
    ]
    family_now = (await http.get(f"/api/v1/kpm/{family['id']}", headers=office.headers)).json()
    assert family_now["verification_status"] == "moved"
    moved = await http.get(
        "/api/v1/kpm", params={"verification_status": "moved"}, headers=office.headers
    )
    assert [item["id"] for item in moved.json()["items"]] == [family["id"]]

    future = await http.post(
        url,
        json={
            "visited_on": (dt.date.today() + dt.timedelta(days=3)).isoformat(),
            "outcome": "eligible",
        },
        headers=office.headers,
    )
    assert future.status_code == 422


async def test_enrollment_status_machine_and_graduation(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.10", scopes=DISTRICT_OFFICE)  # Kabupaten Klaten
    facilitator = await _facilitator(http, office, region="33.10.12")
    family = await _family(
        http, office, village="33.10.12.2001", programs=[], facilitator_id=facilitator["id"]
    )
    base = f"/api/v1/kpm/{family['id']}/enrollments"

    proposed = await http.post(
        base, json={"program_code": "pkh", "status": "proposed"}, headers=office.headers
    )
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["status"] == "proposed"
    twice = await http.post(base, json={"program_code": "PKH"}, headers=office.headers)
    assert twice.status_code == 409

    async def move(status: str, version: int, **extra: Any) -> httpx.Response:
        return await http.patch(
            f"{base}/PKH",
            json={"status": status, **extra},
            headers={**office.headers, "If-Match": f'"{version}"'},
        )

    assert (await move("active", 1, on_date="2025-01-06")).status_code == 200
    skipped = await move("proposed", 2)
    assert skipped.status_code == 409
    assert skipped.json()["code"] == "invalid_transition"
    no_kind = await move("graduated", 2)
    assert no_kind.status_code == 422
    graduated = await move(
        "graduated",
        2,
        graduation_kind="mandiri",
        on_date="2026-10-20",
        reason="Usaha warung stabil",
    )
    assert graduated.status_code == 200, graduated.text
    body = graduated.json()
    assert (body["status"], body["graduation_kind"], body["credited_facilitator_id"]) == (
        "graduated",
        "mandiri",
        facilitator["id"],
    )
    assert (body["started_on"], body["ended_on"]) == ("2025-01-06", "2026-10-20")
    assert (await move("active", 3)).status_code == 409  # graduation is final

    history = (await http.get(f"{base}/PKH/history", headers=office.headers)).json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "proposed"),
        ("proposed", "active"),
        ("active", "graduated"),
    ]
    graduates = await http.get(
        "/api/v1/kpm",
        params={"program": "PKH", "enrollment_status": "graduated"},
        headers=office.headers,
    )
    assert [item["id"] for item in graduates.json()["items"]] == [family["id"]]


async def test_facilitators_in_the_region(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    tegal = await clients(region="33.28", scopes=DISTRICT_OFFICE)
    mine = await _facilitator(http, tegal, kind="TKSK")
    outside = await http.post(
        "/api/v1/facilitators",
        json={"name": "Pak Darto", "kind": "KUBE", "region_code": "33.29"},
        headers=tegal.headers,
    )
    assert outside.status_code == 403

    changed = await http.patch(
        f"/api/v1/facilitators/{mine['id']}",
        json={"active": False, "yearly_target": 8},
        headers={**tegal.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200
    assert (changed.json()["active"], changed.json()["yearly_target"]) == (False, 8)

    brebes = await clients(region="33.29", scopes=DISTRICT_OFFICE)
    assert (
        await http.get(f"/api/v1/facilitators/{mine['id']}", headers=brebes.headers)
    ).status_code == 404
    listed = await http.get(
        "/api/v1/facilitators", params={"active": "false"}, headers=tegal.headers
    )
    assert mine["id"] in [f["id"] for f in listed.json()["items"]]

    family = await http.post(
        "/api/v1/kpm", json=family_body(facilitator_id=mine["id"]), headers=brebes.headers
    )
    assert family.status_code in (403, 422)  # neither the village nor the facilitator is theirs


@pytest.mark.parametrize(
    ("caller", "sees"),
    [
        ("national", True),
        ("33", True),
        ("33.28", True),
        ("33.28.02", True),
        ("33.28.02.2001", True),
        ("33.28.02.2002", False),  # the next village
        ("33.28.01", False),
        ("33.29", False),
        ("35", False),
    ],
)
async def test_region_matrix_for_families(
    http: httpx.AsyncClient, clients: ClientFactory, caller: str, sees: bool
) -> None:
    owner = await clients(region="33.28.02.2001", scopes=DISTRICT_OFFICE)
    family = await _family(http, owner)
    client = await clients(
        region=None if caller == "national" else caller, scopes=[*DISTRICT_OFFICE, "pii:read"]
    )
    url = f"/api/v1/kpm/{family['id']}"
    read = await http.get(url, headers=client.headers)
    assert read.status_code == (200 if sees else 404)
    listed = await http.get("/api/v1/kpm", params={"limit": "500"}, headers=client.headers)
    assert (family["id"] in {item["id"] for item in listed.json()["items"]}) is sees
    exported = await http.get("/api/v1/kpm/export?format=ndjson", headers=client.headers)
    assert (family["village_code"] in exported.text) is sees
    patched = await http.patch(
        url, json={"desil": 3}, headers={**client.headers, "If-Match": '"1"'}
    )
    assert patched.status_code == (200 if sees else 404)
    verified = await http.post(
        f"{url}/verifications",
        json={"visited_on": "2026-05-01", "outcome": "eligible"},
        headers=client.headers,
    )
    assert verified.status_code == (201 if sees else 404)
    gql = await http.post(
        "/graphql",
        json={
            "query": "query($id: UUID!) { family(id: $id) { villageCode members { nik } } }",
            "variables": {"id": family["id"]},
        },
        headers=client.headers,
    )
    errors = gql.json().get("errors")
    assert (errors is None) is sees
    created_here = await http.post("/api/v1/kpm", json=family_body(), headers=client.headers)
    assert created_here.status_code == (201 if sees else 403)


async def test_graphql_families_mask_like_rest(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    writer = await clients(region="33.28", scopes=["kpm:read", "kpm:write"])
    body = family_body()
    created = await http.post("/api/v1/kpm", json=body, headers=writer.headers)
    query = """query($f: FamilyFilterInput) {
        families(filter: $f, limit: 10) { items { noKk members { nik name nikMismatch } } }
    }"""
    result = await http.post(
        "/graphql",
        json={"query": query, "variables": {"f": {"noKk": body["no_kk"]}}},
        headers=writer.headers,
    )
    (family,) = result.json()["data"]["families"]["items"]
    rest = created.json()
    assert family["noKk"] == rest["no_kk"] == body["no_kk"][:6] + "*" * 10
    assert [m["nik"] for m in family["members"]] == [m["nik"] for m in rest["members"]]
