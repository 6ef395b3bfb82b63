"""Facilitators (pendamping) through GraphQL: created, read, listed and changed as over REST, with
REST's refusals."""

from __future__ import annotations

import httpx

from tests.api.graphql_calls import error_code, gql
from tests.factories import ClientFactory

OFFICE = ["facilitators:read", "facilitators:write"]
FIELDS = "id name kind regionCode active yearlyTarget version"


async def test_create_read_list_and_update(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    created = await gql(
        http,
        office,
        f"""mutation($i: FacilitatorCreateInput!) {{ createFacilitator(input: $i) {{ {FIELDS} }}
        }}""",
        i={"name": "Bu Nurhayati", "kind": "PKH", "regionCode": "332802", "yearlyTarget": 5},
    )
    assert "errors" not in created, created
    facilitator = created["data"]["createFacilitator"]
    assert facilitator["regionCode"] == "33.28.02"  # accepted undotted, answered dotted
    rest = await http.get(f"/api/v1/facilitators/{facilitator['id']}", headers=office.headers)
    assert rest.status_code == 200, rest.text
    assert (rest.json()["name"], rest.json()["kind"], rest.json()["yearly_target"]) == (
        "Bu Nurhayati",
        "PKH",
        5,
    )
    assert rest.json()["region_code"] == facilitator["regionCode"]

    one = await gql(
        http,
        office,
        f"query($id: UUID!) {{ facilitator(id: $id) {{ {FIELDS} }} }}",
        id=facilitator["id"],
    )
    assert one["data"]["facilitator"] == facilitator

    updated = await gql(
        http,
        office,
        """mutation($id: UUID!, $v: Int!) { updateFacilitator(id: $id, expectedVersion: $v,
            input: {active: false}) { active version } }""",
        id=facilitator["id"],
        v=facilitator["version"],
    )
    assert updated["data"]["updateFacilitator"] == {
        "active": False,
        "version": facilitator["version"] + 1,
    }
    rest = await http.get(f"/api/v1/facilitators/{facilitator['id']}", headers=office.headers)
    assert rest.json()["active"] is False
    assert rest.headers["etag"] == f'"{facilitator["version"] + 1}"'

    listed = await gql(
        http,
        office,
        """{ inactive: facilitators(region: "33.28.02", active: false, limit: 500) {
                items { id } nextCursor }
            active: facilitators(region: "33.28.02", active: true, limit: 500) {
                items { id } } }""",
    )
    assert facilitator["id"] in {f["id"] for f in listed["data"]["inactive"]["items"]}
    assert facilitator["id"] not in {f["id"] for f in listed["data"]["active"]["items"]}
    rest_list = await http.get(
        "/api/v1/facilitators",
        params={"region": "33.28.02", "active": "false", "limit": 500},
        headers=office.headers,
    )
    assert [f["id"] for f in listed["data"]["inactive"]["items"]] == [
        f["id"] for f in rest_list.json()["items"]
    ]


async def test_refusals_carry_rests_codes(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    outside = await gql(
        http,
        office,
        """mutation { createFacilitator(input: {name: "Pak Wiryo", kind: "TKSK",
            regionCode: "33.29"}) { id } }""",
    )
    assert error_code(outside) == "outside_region"
    facilitator = await http.post(
        "/api/v1/facilitators",
        json={"name": "Ani Rahayu", "kind": "PKH", "region_code": "33.28.02"},
        headers=office.headers,
    )
    facilitator_id = facilitator.json()["id"]
    stale = await gql(
        http,
        office,
        """mutation($id: UUID!) { updateFacilitator(id: $id, expectedVersion: 9,
            input: {yearlyTarget: 3}) { id } }""",
        id=facilitator_id,
    )
    assert error_code(stale) == "version_mismatch"
    emptied = await gql(
        http,
        office,
        """mutation($id: UUID!, $v: Int!) { updateFacilitator(id: $id, expectedVersion: $v,
            input: {name: null}) { id } }""",
        id=facilitator_id,
        v=facilitator.json()["version"],
    )
    assert error_code(emptied) == "validation_failed"
    assert emptied["errors"][0]["extensions"]["errors"][0]["field"] == "name"
    bad_region = await gql(http, office, '{ facilitators(region: "x") { nextCursor } }')
    assert error_code(bad_region) == "validation_failed"

    brebes = await clients(region="33.29", scopes=OFFICE)
    hidden = await gql(
        http, brebes, "query($id: UUID!) { facilitator(id: $id) { id } }", id=facilitator_id
    )
    assert error_code(hidden) == "not_found"
    reader = await clients(region="33.28", scopes=["kpm:read"])
    no_scope = await gql(http, reader, "{ facilitators { nextCursor } }")
    rest = await http.get("/api/v1/facilitators", headers=reader.headers)
    assert error_code(no_scope) == rest.json()["code"]
