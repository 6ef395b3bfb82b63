"""KUBE through GraphQL: the same rules as REST, whole-rupiah money, batched nested lists."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.api.graphql_calls import error_code, gql
from tests.api.kube_setup import OFFICE, active_group, create_group, families
from tests.factories import ClientFactory

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def test_graphql_groups_and_grants_through_the_same_rules(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    province = await clients(region="33", scopes=OFFICE)
    family_ids = await families(http, office, 6)
    created = await gql(
        http,
        office,
        """mutation($i: KubeGroupCreateInput!) {
            createKubeGroup(input: $i) { id status members { familyId role } }
        }""",
        i={
            "name": "KUBE Tani Makmur",
            "villageCode": "3328022001",
            "businessCategory": "pertanian",
            "members": [
                {"familyId": family_ids[0], "role": "ketua"},
                *({"familyId": f} for f in family_ids[1:4]),
            ],
        },
    )
    group = created["data"]["createKubeGroup"]
    assert group["status"] == "forming"
    assert [m["role"] for m in group["members"]] == ["ketua", "anggota", "anggota", "anggota"]

    activate = """mutation($g: UUID!) { changeKubeGroupStatus(groupId: $g, to: "active") {
        status } }"""
    assert error_code(await gql(http, office, activate, g=group["id"])) == "group_size"
    added = await gql(
        http,
        office,
        """mutation($g: UUID!, $f: UUID!) {
            addKubeMember(groupId: $g, input: {familyId: $f, role: "bendahara"}) {
                members { familyId role } version } }""",
        g=group["id"],
        f=family_ids[4],
    )
    assert added["data"]["addKubeMember"]["members"][-1] == {
        "familyId": family_ids[4],
        "role": "bendahara",
    }
    active = await gql(http, office, activate, g=group["id"])
    assert active["data"]["changeKubeGroupStatus"]["status"] == "active"

    bad = await gql(
        http,
        office,
        "mutation($i: KubeGrantCreateInput!) { createKubeGrant(input: $i) { id } }",
        i={"groupId": group["id"], "amount": 0},
    )
    assert error_code(bad) == "validation_failed"
    assert bad["errors"][0]["extensions"]["errors"][0]["field"] == "amount"
    grant = (
        await gql(
            http,
            office,
            "mutation($i: KubeGrantCreateInput!) { createKubeGrant(input: $i) { id amount } }",
            i={"groupId": group["id"], "amount": 20_000_000},
        )
    )["data"]["createKubeGrant"]
    transition = """mutation($g: UUID!, $to: String!) {
        transitionKubeGrant(grantId: $g, to: $to, note: "ok") { status } }"""
    refused = await gql(http, office, transition, g=grant["id"], to="recommended")
    assert error_code(refused) == "province_required"
    assert error_code(await gql(http, province, transition, g=grant["id"], to="approved")) == (
        "invalid_transition"
    )
    for client, step in ((province, "recommended"), (office, "approved"), (office, "disbursed")):
        assert error_code(await gql(http, client, transition, g=grant["id"], to=step)) is None
    await http.post(
        f"/api/v1/kube-grants/{grant['id']}/reports",
        json={"report_date": "2026-09-30", "revenue": 3_000_000_000, "active_members": 5},
        headers=office.headers,
    )
    read = await gql(
        http,
        office,
        """query($id: UUID!) { kubeGrant(id: $id) {
            status amount group { name status members { role } }
            transitions { fromStatus toStatus byName note }
            reports { revenue activeMembers } } }""",
        id=grant["id"],
    )
    body = read["data"]["kubeGrant"]
    assert (body["status"], body["amount"], body["group"]["name"]) == (
        "reporting",
        20_000_000,
        "KUBE Tani Makmur",
    )
    assert [t["toStatus"] for t in body["transitions"]] == [
        "proposed",
        "recommended",
        "approved",
        "disbursed",
        "reporting",
    ]
    assert body["reports"] == [{"revenue": 3_000_000_000, "activeMembers": 5}]
    listed = await gql(
        http,
        office,
        """query($f: KubeGroupFilterInput) { kubeGroups(filter: $f, limit: 10) {
            items { id members { familyId } } nextCursor } }""",
        f={"status": "active", "name": "tani"},
    )
    assert [g["id"] for g in listed["data"]["kubeGroups"]["items"]] == [group["id"]]
    assert len(listed["data"]["kubeGroups"]["items"][0]["members"]) == 5


@pytest.mark.parametrize(
    ("literal", "variable"),
    [("1.5", 1.5), ('"20000000"', "20000000"), ("true", True)],
)
async def test_graphql_money_is_whole_rupiah(
    http: httpx.AsyncClient, clients: ClientFactory, literal: str, variable: object
) -> None:
    """A fractional or quoted amount is the client's mistake (400), in a literal or a variable;
    a variable of the wrong type anywhere is one too, never an internal error."""
    office = await clients(region="33.28", scopes=OFFICE)
    group = await active_group(http, office)
    inline = await gql(
        http,
        office,
        "mutation($g: UUID!) { createKubeGrant(input: {groupId: $g, amount: "
        + literal
        + "}) { id } }",
        g=group["id"],
    )
    assert inline["errors"][0]["extensions"]["code"] == "graphql_error"
    assert inline["errors"][0]["extensions"]["status"] == 400
    passed = await gql(
        http,
        office,
        "mutation($g: UUID!, $a: Rupiah!) { createKubeGrant(input: {groupId: $g, amount: $a}) "
        "{ id } }",
        g=group["id"],
        a=variable,
    )
    assert passed["errors"][0]["extensions"]["code"] == "graphql_error"
    limit = await gql(
        http, office, "query($l: Int!) { kubeGroups(limit: $l) { nextCursor } }", l="x"
    )
    assert limit["errors"][0]["extensions"]["status"] == 400
    listed = await http.get("/api/v1/kube-grants", headers=office.headers)
    assert listed.json()["items"] == []


async def test_graphql_nested_lists_cost_one_query_per_kind(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    connection: AsyncConnection,
) -> None:
    """Members of a page of groups come through the DataLoader: as many queries for ten groups
    as for one."""
    office = await clients(region="33.28", scopes=OFFICE)
    family_ids = await families(http, office, 10)
    query = """query($f: KubeGroupFilterInput) { kubeGroups(filter: $f, limit: 50) {
        items { id members { familyId role } } } }"""

    async def statements_for(name: str) -> int:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(connection.sync_connection, "before_cursor_execute", count)
        try:
            result = await gql(http, office, query, f={"name": name})
        finally:
            event.remove(connection.sync_connection, "before_cursor_execute", count)
        assert "errors" not in result
        return len([s for s in seen if "kube_member" in s])

    await create_group(http, office, family_ids[:1], name="KUBE Satu Saja")
    for index in range(9):
        await create_group(
            http, office, family_ids[index + 1 : index + 2], name=f"KUBE Banyak {index}"
        )
    assert await statements_for("satu saja") == 1
    assert await statements_for("banyak") == 1
