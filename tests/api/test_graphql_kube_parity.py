"""The KUBE operations REST has, through GraphQL: each does what its REST endpoint does (read
back through REST), and refuses with the code REST's problem carries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.graphql_calls import error_code, gql
from tests.api.kube_setup import OFFICE, active_group, create_group, families, grant_move
from tests.factories import ClientFactory, IssuedClient, grant_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def _group(http: httpx.AsyncClient, client: IssuedClient, group_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/v1/kube/{group_id}", headers=client.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _grant(http: httpx.AsyncClient, client: IssuedClient, group_id: str) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/kube-grants", json=grant_body(group_id), headers=client.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


UPDATE_GROUP = """mutation($g: UUID!, $v: Int!, $i: KubeGroupUpdateInput!) {
    updateKubeGroup(groupId: $g, expectedVersion: $v, input: $i) { name version }
}"""


async def test_update_group(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    group = await create_group(http, office, await families(http, office, 1))
    renamed = await gql(
        http, office, UPDATE_GROUP, g=group["id"], v=group["version"], i={"name": "KUBE Mawar"}
    )
    assert renamed["data"]["updateKubeGroup"]["name"] == "KUBE Mawar", renamed
    read = await _group(http, office, group["id"])
    assert (read["name"], read["business_category"], read["version"]) == (
        "KUBE Mawar",
        group["business_category"],
        group["version"] + 1,
    )
    stale = await gql(
        http, office, UPDATE_GROUP, g=group["id"], v=group["version"], i={"name": "KUBE Melati"}
    )
    assert error_code(stale) == "version_mismatch"
    emptied = await gql(
        http, office, UPDATE_GROUP, g=group["id"], v=read["version"], i={"name": None}
    )
    assert error_code(emptied) == "validation_failed"
    assert emptied["errors"][0]["extensions"]["errors"][0]["field"] == "name"
    assert (await _group(http, office, group["id"]))["name"] == "KUBE Mawar"


CHANGE_ROLE = """mutation($g: UUID!, $f: UUID!, $r: String!) {
    changeKubeMemberRole(groupId: $g, familyId: $f, role: $r) { members { familyId role } }
}"""


async def test_change_member_role(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    group = await active_group(http, office)
    ketua, second = (m["family_id"] for m in group["members"][:2])
    handed = await gql(http, office, CHANGE_ROLE, g=group["id"], f=second, r="ketua")
    assert error_code(handed) is None, handed
    read = await _group(http, office, group["id"])
    roles = {m["family_id"]: m["role"] for m in read["members"]}
    assert (roles[second], roles[ketua]) == ("ketua", "anggota")
    # an active group cannot lose its ketua without giving the seat to someone
    dropped = await gql(http, office, CHANGE_ROLE, g=group["id"], f=second, r="anggota")
    assert error_code(dropped) == "ketua_required"
    bogus = await gql(http, office, CHANGE_ROLE, g=group["id"], f=ketua, r="bupati")
    assert error_code(bogus) == "validation_failed"


REMOVE = """mutation($g: UUID!, $f: UUID!, $v: Int) {
    removeKubeMember(groupId: $g, familyId: $f, expectedVersion: $v) { members { familyId } }
}"""


async def test_remove_member(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    ketua, other = await families(http, office, 2)
    group = await create_group(http, office, [ketua, other])
    removed = await gql(http, office, REMOVE, g=group["id"], f=other, v=group["version"])
    assert removed["data"]["removeKubeMember"]["members"] == [{"familyId": ketua}], removed
    read = await _group(http, office, group["id"])
    assert [m["family_id"] for m in read["members"]] == [ketua]
    again = await gql(http, office, REMOVE, g=group["id"], f=other)
    assert error_code(again) == "not_found"
    active = await active_group(http, office)
    below_minimum = await gql(
        http, office, REMOVE, g=active["id"], f=active["members"][-1]["family_id"]
    )
    assert error_code(below_minimum) == "group_size"


UPDATE_GRANT = """mutation($g: UUID!, $v: Int!, $i: KubeGrantUpdateInput!) {
    updateKubeGrant(grantId: $g, expectedVersion: $v, input: $i) { amount purpose version }
}"""


async def test_update_grant(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    province = await clients(region="33", scopes=OFFICE)
    grant = await _grant(http, office, (await active_group(http, office))["id"])
    changed = await gql(http, office, UPDATE_GRANT, g=grant["id"], v=1, i={"amount": 25_000_000})
    assert changed["data"]["updateKubeGrant"]["amount"] == 25_000_000, changed
    url = f"/api/v1/kube-grants/{grant['id']}"
    read = (await http.get(url, headers=office.headers)).json()
    assert (read["amount"], read["purpose"], read["version"]) == (25_000_000, grant["purpose"], 2)
    await grant_move(http, province, grant["id"], "recommended")
    await grant_move(http, office, grant["id"], "approved")
    locked = await gql(http, office, UPDATE_GRANT, g=grant["id"], v=4, i={"purpose": "Lain"})
    assert error_code(locked) == "grant_locked"
    assert (await http.get(url, headers=office.headers)).json()["purpose"] == grant["purpose"]


ADD_REPORT = """mutation($g: UUID!, $i: KubeGrantReportInput!) {
    addKubeGrantReport(grantId: $g, input: $i) { id grantId reportDate revenue activeMembers }
}"""
HISTORY = """query($g: UUID!) { kubeGrant(id: $g) {
    status
    transitions { fromStatus toStatus note byName }
    reports { id reportDate revenue activeMembers notes }
} }"""


async def test_business_reports_and_history(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE, name="Dinsos Kabupaten Tegal")
    province = await clients(region="33", scopes=OFFICE)
    grant = await _grant(http, office, (await active_group(http, office))["id"])
    report = {"reportDate": "2026-09-30", "revenue": 4_500_000, "activeMembers": 5}
    early = await gql(http, office, ADD_REPORT, g=grant["id"], i=report)
    assert error_code(early) == "not_reporting"
    for mover, to in ((province, "recommended"), (office, "approved"), (office, "disbursed")):
        assert (await grant_move(http, mover, grant["id"], to)).status_code == 200
    added = await gql(http, office, ADD_REPORT, g=grant["id"], i={**report, "notes": "Laku"})
    assert added["data"]["addKubeGrantReport"]["grantId"] == grant["id"], added

    url = f"/api/v1/kube-grants/{grant['id']}"
    rest_reports = (await http.get(f"{url}/reports", headers=office.headers)).json()
    rest_history = (await http.get(f"{url}/transitions", headers=office.headers)).json()
    read = (await gql(http, office, HISTORY, g=grant["id"]))["data"]["kubeGrant"]
    assert read["status"] == "reporting"
    assert (
        [
            (r["id"], r["reportDate"], r["revenue"], r["activeMembers"], r["notes"])
            for r in read["reports"]
        ]
        == [
            (r["id"], r["report_date"], r["revenue"], r["active_members"], r["notes"])
            for r in rest_reports
        ]
        == [(added["data"]["addKubeGrantReport"]["id"], "2026-09-30", 4_500_000, 5, "Laku")]
    )
    assert [
        (t["fromStatus"], t["toStatus"], t["note"], t["byName"]) for t in read["transitions"]
    ] == [(t["from_status"], t["to_status"], t["note"], t["by_name"]) for t in rest_history]
    assert read["transitions"][-1]["toStatus"] == "reporting"
