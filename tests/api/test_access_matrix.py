"""The region rule for every endpoint that exists, through both doors.

A record outside the caller's region answers 404 exactly as a missing one; creating or moving a
record outside it answers 403. Regions themselves are reference data, readable by everyone.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import ClientFactory, program_body

# caller region -> can it see / change a program owned by regency 33.28 (Kabupaten Tegal)?
CALLERS: dict[str, bool] = {
    "national": True,
    "33": True,  # Jawa Tengah, the province above
    "32": False,  # another province
    "33.28": True,  # Tegal itself
    "33.29": False,  # Brebes, the neighbouring regency
    "33.28.02": False,  # a district inside Tegal sees only what lies inside the district
    "33.28.02.2001": False,  # a village system (Guci)
}


def _region(caller: str) -> str | None:
    return None if caller == "national" else caller


async def _gql(
    http: httpx.AsyncClient, headers: dict[str, str], query: str, **variables: Any
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _error_code(result: dict[str, Any]) -> str | None:
    errors = result.get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


@pytest.fixture
async def tegal_program(http: httpx.AsyncClient, clients: ClientFactory) -> str:
    owner = await clients(region="33.28")
    body = program_body(region_code="33.28")
    response = await http.post("/api/v1/programs", json=body, headers=owner.headers)
    assert response.status_code == 201
    return str(body["code"])


@pytest.mark.parametrize(("caller", "inside"), CALLERS.items())
async def test_reads(
    http: httpx.AsyncClient, clients: ClientFactory, tegal_program: str, caller: str, inside: bool
) -> None:
    client = await clients(region=_region(caller))
    one = await http.get(f"/api/v1/programs/{tegal_program}", headers=client.headers)
    assert one.status_code == (200 if inside else 404)
    if not inside:  # indistinguishable from a program that does not exist
        missing = await http.get("/api/v1/programs/NOSUCH", headers=client.headers)
        assert one.json()["detail"] == missing.json()["detail"]
    listed = (await http.get("/api/v1/programs?limit=500", headers=client.headers)).json()
    codes = {item["code"] for item in listed["items"]}
    assert (tegal_program in codes) is inside
    assert {"PKH", "BPNT", "PK3E", "KUBE"} <= codes  # national programs: everyone

    gql_one = await _gql(
        http, client.headers, "query($c: String!) { program(code: $c) { code } }", c=tegal_program
    )
    assert _error_code(gql_one) == (None if inside else "not_found")
    gql_list = await _gql(http, client.headers, "{ programs(limit: 500) { items { code } } }")
    assert (tegal_program in {p["code"] for p in gql_list["data"]["programs"]["items"]}) is inside

    # Reference data is readable by every client, whatever its region.
    for url in ("/api/v1/regions/35.75", "/api/v1/regions", "/api/v1/regions/35/children"):
        assert (await http.get(url, headers=client.headers)).status_code == 200
    gql_region = await _gql(http, client.headers, '{ region(code: "35.75") { name } }')
    assert gql_region["data"]["region"]["name"] == "Kota Pasuruan"


@pytest.mark.parametrize(("caller", "inside"), CALLERS.items())
async def test_changes(
    http: httpx.AsyncClient, clients: ClientFactory, tegal_program: str, caller: str, inside: bool
) -> None:
    client = await clients(region=_region(caller))
    headers = {**client.headers, "If-Match": '"1"'}
    patched = await http.patch(
        f"/api/v1/programs/{tegal_program}", json={"name": "Renamed"}, headers=headers
    )
    assert patched.status_code == (200 if inside else 404)

    gql = await _gql(
        http,
        client.headers,
        "mutation($c: String!, $v: Int!) { updateProgram(code: $c, expectedVersion: $v, "
        "input: {active: false}) { version } }",
        c=tegal_program,
        v=2 if inside else 1,
    )
    assert _error_code(gql) == (None if inside else "not_found")


@pytest.mark.parametrize(("caller", "inside"), CALLERS.items())
async def test_creates(
    http: httpx.AsyncClient, clients: ClientFactory, caller: str, inside: bool
) -> None:
    client = await clients(region=_region(caller))
    in_tegal = await http.post(
        "/api/v1/programs", json=program_body(region_code="33.28"), headers=client.headers
    )
    assert in_tegal.status_code == (201 if inside else 403), in_tegal.text
    if not inside:
        assert in_tegal.json()["code"] == "outside_region"

    national = await http.post(
        "/api/v1/programs",
        json=program_body(level="national", region_code=None, benefit_kind="cash"),
        headers=client.headers,
    )
    assert national.status_code == (201 if caller == "national" else 403)

    gql = await _gql(
        http,
        client.headers,
        "mutation($i: ProgramCreateInput!) { createProgram(input: $i) { regionCode } }",
        i={
            "code": program_body()["code"],
            "name": "Program Tegal",
            "level": "DISTRICT",
            "benefitKind": "TRAINING",
            "regionCode": "3328",
        },
    )
    assert _error_code(gql) == (None if inside else "outside_region")


@pytest.mark.parametrize("caller", [c for c in CALLERS if c != "national"])
async def test_only_national_clients_change_national_programs(
    http: httpx.AsyncClient, clients: ClientFactory, caller: str
) -> None:
    client = await clients(region=caller)
    response = await http.patch(
        "/api/v1/programs/PKH",
        json={"name": "Taken over"},
        headers={**client.headers, "If-Match": '"1"'},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "outside_region"


async def test_moving_a_program_out_of_the_region_is_refused(
    http: httpx.AsyncClient, clients: ClientFactory, tegal_program: str
) -> None:
    province = await clients(region="33")
    moved = await http.patch(
        f"/api/v1/programs/{tegal_program}",
        json={"region_code": "35.75"},  # Kota Pasuruan, Jawa Timur
        headers={**province.headers, "If-Match": '"1"'},
    )
    assert moved.status_code == 403
    still = await http.get(f"/api/v1/programs/{tegal_program}", headers=province.headers)
    assert still.json()["region_code"] == "33.28"
