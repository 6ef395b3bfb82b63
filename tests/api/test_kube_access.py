"""Who may reach KUBE groups and grants: the region rule for every endpoint through both doors,
and the scopes."""

from __future__ import annotations

import httpx
import pytest

from tests.api.graphql_calls import error_code, gql
from tests.api.kube_setup import (
    GUCI,
    OFFICE,
    active_group,
    create_group,
    families,
    grant_move,
    move,
)
from tests.factories import ClientFactory, grant_body, kube_group_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


# --- regions: every endpoint, both doors ------------------------------------------------------

# caller region -> does it see (and may change) a group in Guci, 33.28.02.2001?
CALLERS: dict[str, bool] = {
    "national": True,
    "33": True,  # Jawa Tengah, the province above
    "35": False,  # another province
    "33.28": True,  # Kabupaten Tegal
    "33.29": False,  # Kabupaten Brebes, the neighbouring regency
    GUCI: True,  # the village itself
    "33.28.02.2002": False,  # the next village
}


@pytest.mark.parametrize(("caller", "inside"), CALLERS.items())
async def test_region_matrix(
    http: httpx.AsyncClient,
    probe: httpx.AsyncClient,
    clients: ClientFactory,
    caller: str,
    inside: bool,
) -> None:
    owner = await clients(region=GUCI, scopes=OFFICE)
    group = await active_group(http, owner)
    (spare,) = await families(http, owner, 1)
    grant = (
        await http.post("/api/v1/kube-grants", json=grant_body(group["id"]), headers=owner.headers)
    ).json()
    client = await clients(region=None if caller == "national" else caller, scopes=OFFICE)
    seen, hidden = (200, 404)
    expect = seen if inside else hidden

    # reads
    assert (
        await probe.get(f"/api/v1/kube/{group['id']}", headers=client.headers)
    ).status_code == expect
    groups = (await probe.get("/api/v1/kube?limit=500", headers=client.headers)).json()["items"]
    assert (group["id"] in {g["id"] for g in groups}) is inside
    grant_url = f"/api/v1/kube-grants/{grant['id']}"
    assert (await probe.get(grant_url, headers=client.headers)).status_code == expect
    grants = (await probe.get("/api/v1/kube-grants?limit=500", headers=client.headers)).json()
    assert (grant["id"] in {g["id"] for g in grants["items"]}) is inside
    for export in ("/api/v1/kube/export", "/api/v1/kube-grants/export"):
        exported = await probe.get(export, headers=client.headers)
        assert exported.status_code == 200
        assert ((group["id"] if "kube/" in export else grant["id"]) in exported.text) is inside
    for sub in ("transitions", "reports"):
        assert (await probe.get(f"{grant_url}/{sub}", headers=client.headers)).status_code == expect
    gql_group = await gql(
        probe,
        client,
        "query($id: UUID!) { kubeGroup(id: $id) { members { familyId } } }",
        id=group["id"],
    )
    assert error_code(gql_group) == (None if inside else "not_found")
    gql_grant = await gql(
        probe, client, "query($id: UUID!) { kubeGrant(id: $id) { status } }", id=grant["id"]
    )
    assert error_code(gql_grant) == (None if inside else "not_found")
    gql_list = await gql(probe, client, "{ kubeGroups(limit: 500) { items { id } } }")
    assert (group["id"] in {g["id"] for g in gql_list["data"]["kubeGroups"]["items"]}) is inside
    gql_grants = await gql(probe, client, "{ kubeGrants(limit: 500) { items { id } } }")
    assert (grant["id"] in {g["id"] for g in gql_grants["data"]["kubeGrants"]["items"]}) is inside

    # writes to records outside answer as if they did not exist
    patched = await probe.patch(
        f"/api/v1/kube/{group['id']}",
        json={"name": "KUBE Berganti Nama"},
        headers={**client.headers, "If-Match": f'"{group["version"]}"'},
    )
    assert patched.status_code == expect
    member = await probe.post(
        f"/api/v1/kube/{group['id']}/members", json={"family_id": spare}, headers=client.headers
    )
    assert member.status_code == (201 if inside else 404)
    role = await probe.patch(
        f"/api/v1/kube/{group['id']}/members/{spare}",
        json={"role": "sekretaris"},
        headers=client.headers,
    )
    assert role.status_code == (200 if inside else 404)
    removed = await probe.delete(
        f"/api/v1/kube/{group['id']}/members/{spare}", headers=client.headers
    )
    assert removed.status_code == expect
    backwards = await move(probe, client, group["id"], "forming")
    assert backwards.status_code == (409 if inside else 404)  # inside: never back to forming
    report = await probe.post(
        f"{grant_url}/reports",
        json={"report_date": "2026-09-30", "revenue": 1, "active_members": 5},
        headers=client.headers,
    )
    assert report.status_code == (409 if inside else 404)  # inside: not disbursed yet
    grant_patch = await probe.patch(
        grant_url, json={"purpose": "Modal"}, headers={**client.headers, "If-Match": '"1"'}
    )
    assert grant_patch.status_code == expect
    cancelled = await grant_move(probe, client, grant["id"], "cancelled")
    assert cancelled.status_code == expect
    gql_cancel = await gql(
        probe,
        client,
        'mutation($g: UUID!) { transitionKubeGrant(grantId: $g, to: "cancelled") { status } }',
        g=grant["id"],
    )
    assert error_code(gql_cancel) == ("invalid_transition" if inside else "not_found")
    gql_member = await gql(
        probe,
        client,
        "mutation($g: UUID!, $f: UUID!) { "
        "addKubeMember(groupId: $g, input: {familyId: $f}) { id } }",
        g=group["id"],
        f=spare,
    )
    assert error_code(gql_member) == (None if inside else "not_found")
    gql_role = await gql(
        probe,
        client,
        "mutation($g: UUID!, $f: UUID!) { "
        'changeKubeMemberRole(groupId: $g, familyId: $f, role: "sekretaris") { id } }',
        g=group["id"],
        f=spare,
    )
    assert error_code(gql_role) == (None if inside else "not_found")
    gql_remove = await gql(
        probe,
        client,
        "mutation($g: UUID!, $f: UUID!) { removeKubeMember(groupId: $g, familyId: $f) { id } }",
        g=group["id"],
        f=spare,
    )
    assert error_code(gql_remove) == (None if inside else "not_found")
    current = (await http.get(f"/api/v1/kube/{group['id']}", headers=owner.headers)).json()
    gql_rename = await gql(
        probe,
        client,
        "mutation($g: UUID!, $v: Int!) { updateKubeGroup(groupId: $g, expectedVersion: $v, "
        'input: {name: "KUBE Nama Baru"}) { name } }',
        g=group["id"],
        v=current["version"],
    )
    assert error_code(gql_rename) == (None if inside else "not_found")
    grant_now = (await http.get(grant_url, headers=owner.headers)).json()
    gql_grant_patch = await gql(
        probe,
        client,
        "mutation($g: UUID!, $v: Int!) { updateKubeGrant(grantId: $g, expectedVersion: $v, "
        'input: {purpose: "Modal"}) { id } }',
        g=grant["id"],
        v=grant_now["version"],
    )
    # inside: the grant was cancelled above
    assert error_code(gql_grant_patch) == ("grant_locked" if inside else "not_found")
    gql_report = await gql(
        probe,
        client,
        "mutation($g: UUID!) { addKubeGrantReport(grantId: $g, input: {reportDate: "
        '"2026-09-30", revenue: 1, activeMembers: 5}) { id } }',
        g=grant["id"],
    )
    assert error_code(gql_report) == ("not_reporting" if inside else "not_found")
    gql_history = await gql(
        probe,
        client,
        "query($g: UUID!) { kubeGrant(id: $g) { transitions { toStatus } reports { id } } }",
        g=grant["id"],
    )
    assert error_code(gql_history) == (None if inside else "not_found")
    # a grant for a group the caller cannot see names the field, like any unknown id
    new_grant = await probe.post(
        "/api/v1/kube-grants", json=grant_body(group["id"]), headers=client.headers
    )
    assert new_grant.status_code == (201 if inside else 422)
    gql_grant_create = await gql(
        probe,
        client,
        "mutation($i: KubeGrantCreateInput!) { createKubeGrant(input: $i) { id } }",
        i={"groupId": group["id"], "amount": 20_000_000},
    )
    # inside: the grant just created is still under way; outside: the group is unknown here
    assert error_code(gql_grant_create) == ("open_grant_exists" if inside else "validation_failed")
    gql_status = await gql(
        probe,
        client,
        'mutation($g: UUID!) { changeKubeGroupStatus(groupId: $g, to: "inactive") { status } }',
        g=group["id"],
    )
    assert error_code(gql_status) == (None if inside else "not_found")

    # creating in a region outside is forbidden
    created = await probe.post("/api/v1/kube", json=kube_group_body(), headers=client.headers)
    assert created.status_code == (201 if inside else 403)
    if not inside:
        assert created.json()["code"] == "outside_region"
    gql_create = await gql(
        probe,
        client,
        "mutation($i: KubeGroupCreateInput!) { createKubeGroup(input: $i) { id } }",
        i={"name": "KUBE Baru", "villageCode": GUCI, "businessCategory": "jasa"},
    )
    assert error_code(gql_create) == (None if inside else "outside_region")


async def test_scopes_are_required(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    owner = await clients(region="33.28", scopes=OFFICE)
    group = await create_group(http, owner, [])
    reader = await clients(region="33.28", scopes=["kube:read"])
    assert (
        await http.get(f"/api/v1/kube/{group['id']}", headers=reader.headers)
    ).status_code == 200
    write = await http.post("/api/v1/kube", json=kube_group_body(), headers=reader.headers)
    assert write.status_code == 403
    assert write.json()["code"] == "insufficient_scope"
    stranger = await clients(region="33.28", scopes=["kpm:read"])
    read = await http.get(f"/api/v1/kube/{group['id']}", headers=stranger.headers)
    assert read.json()["code"] == "insufficient_scope"
    grants = await http.get("/api/v1/kube-grants", headers=stranger.headers)
    assert grants.status_code == 403
