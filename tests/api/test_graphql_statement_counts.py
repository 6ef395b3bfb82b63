"""Every GraphQL list with its nested lists costs as many SQL statements for a page of twenty
records as for a page of one: the nested lists come through the request's DataLoaders (one
``IN (...)`` query per kind), never a query per record (issue 12, item 5).

Each test makes twenty records of one domain, each with something in its nested lists, in a
Kabupaten Pekalongan district (33.26.09, Kesesi) no other test writes to, then counts every
statement the request runs on the test's connection (auth, savepoints and loaders included)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tests.api.graphql_calls import gql
from tests.api.kube_setup import create_group
from tests.api.kube_setup import move as group_move
from tests.api.training_setup import create_cohort, enrol, people, sheet
from tests.api.training_setup import move as cohort_move
from tests.api.webhook_setup import subscribe
from tests.factories import (
    ClientFactory,
    IssuedClient,
    family_body,
    grant_body,
    insert_families,
    new_allocation,
    new_disbursement,
)

REGENCY = "33.26"  # Kabupaten Pekalongan
DISTRICT = "33.26.09"  # Kesesi
PAGE = 20


async def statements_per_page(
    http: httpx.AsyncClient,
    client: IssuedClient,
    connection: AsyncConnection,
    query: str,
    field: str,
    **variables: Any,
) -> dict[int, tuple[int, list[dict[str, Any]]]]:
    """For a page of 1 and a page of ``PAGE``: (statements the request ran, the items read).
    One request first, so that first-use work (a client's key, a plan) is not counted."""
    await gql(http, client, query, limit=1, **variables)
    counted = [0]

    def count(*_args: Any) -> None:
        counted[0] += 1

    pages: dict[int, tuple[int, list[dict[str, Any]]]] = {}
    for limit in (1, PAGE):
        counted[0] = 0
        event.listen(connection.sync_connection, "before_cursor_execute", count)
        try:
            result = await gql(http, client, query, limit=limit, **variables)
        finally:
            event.remove(connection.sync_connection, "before_cursor_execute", count)
        assert "errors" not in result, result
        items = result["data"][field]["items"]
        assert len(items) == limit, items
        pages[limit] = (counted[0], items)
    return pages


def assert_same_count(pages: dict[int, tuple[int, list[dict[str, Any]]]]) -> None:
    (one, _), (many, _) = pages[1], pages[PAGE]
    assert one == many, f"{one} statements for a page of 1, {many} for a page of {PAGE}"


async def test_families_with_members_enrollments_histories_and_visits(
    http: httpx.AsyncClient, clients: ClientFactory, connection: AsyncConnection
) -> None:
    office = await clients(region=REGENCY)
    village = f"{DISTRICT}.2001"
    for _ in range(PAGE):
        created = await http.post("/api/v1/kpm", json=family_body(village), headers=office.headers)
        assert created.status_code == 201, created.text
        visited = await http.post(
            f"/api/v1/kpm/{created.json()['id']}/verifications",
            json={"visited_on": "2026-03-02", "outcome": "eligible"},
            headers=office.headers,
        )
        enrolled = await http.post(
            f"/api/v1/kpm/{created.json()['id']}/enrollments",
            json={"program_code": "PK3E"},
            headers=office.headers,
        )
        assert visited.status_code == enrolled.status_code == 201, enrolled.text
    query = """query($v: String!, $limit: Int!) { families(filter: {villageCode: $v},
        limit: $limit) { items { id members { name }
            enrollments { programCode history { toStatus } } verifications { outcome } } } }"""
    pages = await statements_per_page(http, office, connection, query, "families", v=village)
    assert_same_count(pages)
    for family in pages[PAGE][1]:
        assert len(family["members"]) == 3
        histories = {e["programCode"]: e["history"] for e in family["enrollments"]}
        assert sorted(histories) == ["PK3E", "PKH"]
        assert histories["PK3E"][0]["toStatus"] == "proposed"
        assert [v["outcome"] for v in family["verifications"]] == ["eligible"]


async def test_kube_groups_with_members_and_grants_with_transitions_and_reports(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    session: AsyncSession,
    connection: AsyncConnection,
) -> None:
    office = await clients(region=REGENCY)
    village = f"{DISTRICT}.2002"
    family_ids = await insert_families(session, village, PAGE * 5)
    for index in range(PAGE):
        group = await create_group(
            http, office, family_ids[index * 5 : index * 5 + 5], village_code=village
        )
        moved = await group_move(http, office, group["id"], "active")
        assert moved.status_code == 200, moved.text
        granted = await http.post(
            "/api/v1/kube-grants", json=grant_body(group["id"]), headers=office.headers
        )
        assert granted.status_code == 201, granted.text

    groups = await statements_per_page(
        http,
        office,
        connection,
        """query($v: String!, $limit: Int!) { kubeGroups(filter: {villageCode: $v},
            limit: $limit) { items { id members { familyId role } } } }""",
        "kubeGroups",
        v=village,
    )
    assert_same_count(groups)
    assert all(len(group["members"]) == 5 for group in groups[PAGE][1])

    grants = await statements_per_page(
        http,
        office,
        connection,
        """query($v: String!, $limit: Int!) { kubeGrants(filter: {region: $v}, limit: $limit)
            { items { id group { name } transitions { toStatus } reports { revenue } } } }""",
        "kubeGrants",
        v=village,
    )
    assert_same_count(grants)
    for grant in grants[PAGE][1]:
        assert grant["group"]["name"]
        assert [t["toStatus"] for t in grant["transitions"]] == ["proposed"]


async def test_training_cohorts_with_sessions_attendance_and_participants(
    http: httpx.AsyncClient, clients: ClientFactory, connection: AsyncConnection
) -> None:
    office = await clients(region=REGENCY)
    members = await people(http, office, 7, village=f"{DISTRICT}.2003")
    marker = uuid.uuid4().hex[:8]
    for index in range(PAGE):
        cohort = await create_cohort(
            http, office, region=DISTRICT, name=f"Pelatihan {marker} {index}"
        )
        enrolled = await enrol(http, office, cohort["id"], members[index])
        assert enrolled.status_code == 201, enrolled.text
        assert (await cohort_move(http, office, cohort["id"], "running")).status_code == 200
        day = cohort["sessions"][0]["id"]
        marked = await sheet(http, office, cohort["id"], day, {enrolled.json()["id"]: True})
        assert marked.is_success, marked.text
    pages = await statements_per_page(
        http,
        office,
        connection,
        """query($n: String!, $limit: Int!) { trainingCohorts(filter: {name: $n},
            limit: $limit) { items { id participantCount sessions { heldOn
                attendance { present } } participants { memberId } } } }""",
        "trainingCohorts",
        n=marker,
    )
    assert_same_count(pages)
    for cohort in pages[PAGE][1]:
        assert cohort["participantCount"] == len(cohort["participants"]) == 1
        assert [a["present"] for a in cohort["sessions"][0]["attendance"]] == [True]


async def test_allocations(
    http: httpx.AsyncClient, clients: ClientFactory, connection: AsyncConnection
) -> None:
    office = await clients(region=REGENCY)
    for year in range(2071, 2071 + PAGE):
        await new_allocation(http, office, region_code=REGENCY, fiscal_year=year)
    pages = await statements_per_page(
        http,
        office,
        connection,
        """query($r: String!, $limit: Int!) { allocations(filter: {region: $r, program: "PK3E"},
            limit: $limit) { items { id fiscalYear remaining } } }""",
        "allocations",
        r=REGENCY,
    )
    assert_same_count(pages)


async def test_disbursements_with_transitions(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    session: AsyncSession,
    connection: AsyncConnection,
) -> None:
    office = await clients(region=REGENCY)
    allocation = await new_allocation(http, office, region_code=REGENCY)
    for family_id in await insert_families(session, f"{DISTRICT}.2004", PAGE):
        await new_disbursement(http, office, allocation["id"], family_id)
    pages = await statements_per_page(
        http,
        office,
        connection,
        """query($a: UUID!, $limit: Int!) { disbursements(filter: {allocationId: $a},
            limit: $limit) { items { id transitions { toStatus actor } } } }""",
        "disbursements",
        a=allocation["id"],
    )
    assert_same_count(pages)
    for payment in pages[PAGE][1]:
        assert [t["toStatus"] for t in payment["transitions"]] == ["scheduled"]


async def test_facilitators(
    http: httpx.AsyncClient, clients: ClientFactory, connection: AsyncConnection
) -> None:
    office = await clients(region=REGENCY)
    area = f"{DISTRICT}.2005"
    for index in range(PAGE):
        created = await http.post(
            "/api/v1/facilitators",
            json={"name": f"Pendamping {index}", "kind": "PKH", "region_code": area},
            headers=office.headers,
        )
        assert created.status_code == 201, created.text
    pages = await statements_per_page(
        http,
        office,
        connection,
        """query($r: String!, $limit: Int!) { facilitators(region: $r, limit: $limit)
            { items { id name regionCode } } }""",
        "facilitators",
        r=area,
    )
    assert_same_count(pages)


async def test_webhooks(
    http: httpx.AsyncClient, clients: ClientFactory, connection: AsyncConnection
) -> None:
    """A subscription has no nested list (its deliveries are a field of their own, paged)."""
    subscriber = await clients(region=REGENCY)
    for _ in range(PAGE):
        await subscribe(http, subscriber)
    pages = await statements_per_page(
        http,
        subscriber,
        connection,
        "query($limit: Int!) { webhooks(limit: $limit) { items { id url status } } }",
        "webhooks",
    )
    assert_same_count(pages)


async def test_regions_with_their_parent(
    http: httpx.AsyncClient, clients: ClientFactory, connection: AsyncConnection
) -> None:
    reader = await clients(region=REGENCY)
    pages = await statements_per_page(
        http,
        reader,
        connection,
        """query($p: String!, $limit: Int!) { regions(parentCode: $p, limit: $limit)
            { items { code parent { code } } } }""",
        "regions",
        p=DISTRICT,
    )
    assert_same_count(pages)
    assert {region["parent"]["code"] for region in pages[PAGE][1]} == {DISTRICT}
