"""GraphQL does to families what REST does: change and archive a family, add, change and remove a
member, record a visit and read the visits, enrol, move an enrollment and read its history. Each
change is read back through REST, each refusal carries REST's problem code."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.api.graphql_calls import error_code, gql
from tests.factories import ClientFactory, IssuedClient, family_body, member_body

OFFICE = ["kpm:read", "kpm:write", "pii:read", "facilitators:read", "facilitators:write"]
FAMILY = "id version desil address archivedAt archiveReason verificationStatus"
MEMBERS = "members { id name relationship }"


async def _office(clients: ClientFactory) -> IssuedClient:
    return await clients(region="33.28", scopes=OFFICE)


async def _family(http: httpx.AsyncClient, client: IssuedClient) -> dict[str, Any]:
    created = await http.post("/api/v1/kpm", json=family_body(), headers=client.headers)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _rest(http: httpx.AsyncClient, client: IssuedClient, family_id: str) -> httpx.Response:
    response = await http.get(f"/api/v1/kpm/{family_id}", headers=client.headers)
    assert response.status_code == 200, response.text
    return response


def _member_input(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "nik": body["nik"],
        "name": body["name"],
        "sex": body["sex"],
        "birthDate": body["birth_date"],
        "relationship": body["relationship"],
    }


async def test_update_family_changes_only_what_is_sent(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await _office(clients)
    family = await _family(http, office)
    result = await gql(
        http,
        office,
        f"""mutation($id: UUID!, $v: Int!) {{
            updateFamily(id: $id, expectedVersion: $v, input: {{desil: 4}}) {{ {FAMILY} }} }}""",
        id=family["id"],
        v=family["version"],
    )
    assert "errors" not in result, result
    assert result["data"]["updateFamily"]["desil"] == 4
    read = await _rest(http, office, family["id"])
    assert read.json()["desil"] == 4
    assert read.json()["address"] == family["address"]  # not sent: kept
    assert read.headers["etag"] == f'"{family["version"] + 1}"'

    stale = await gql(
        http,
        office,
        """mutation($id: UUID!) { updateFamily(id: $id, expectedVersion: 1,
            input: {desil: 5}) { desil } }""",
        id=family["id"],
    )
    assert error_code(stale) == "version_mismatch"
    assert (await _rest(http, office, family["id"])).json()["desil"] == 4


async def test_archive_family_takes_it_out_of_lists(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await _office(clients)
    family = await _family(http, office)
    short = await gql(
        http,
        office,
        """mutation($id: UUID!, $v: Int!) { archiveFamily(id: $id, expectedVersion: $v,
            reason: "x") { id } }""",
        id=family["id"],
        v=family["version"],
    )
    assert error_code(short) == "validation_failed"
    assert [e["field"] for e in short["errors"][0]["extensions"]["errors"]] == ["reason"]

    archived = await gql(
        http,
        office,
        f"""mutation($id: UUID!, $v: Int!) {{ archiveFamily(id: $id, expectedVersion: $v,
            reason: "Pindah ke luar kabupaten") {{ {FAMILY} }} }}""",
        id=family["id"],
        v=family["version"],
    )
    assert "errors" not in archived, archived
    read = (await _rest(http, office, family["id"])).json()
    assert read["archive_reason"] == "Pindah ke luar kabupaten"
    assert read["archived_at"] is not None
    listed = await http.get(
        "/api/v1/kpm", params={"no_kk": family["no_kk"]}, headers=office.headers
    )
    assert listed.json()["items"] == []


async def test_members_added_changed_and_removed(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await _office(clients)
    family = await _family(http, office)
    added = await gql(
        http,
        office,
        f"""mutation($id: UUID!, $v: Int!, $m: MemberInput!) {{
            addMember(familyId: $id, expectedVersion: $v, input: $m) {{ version {MEMBERS} }} }}""",
        id=family["id"],
        v=family["version"],
        m=_member_input(member_body("ANAK", name="Dewi Lestari")),
    )
    assert "errors" not in added, added
    dewi = next(m for m in added["data"]["addMember"]["members"] if m["name"] == "Dewi Lestari")
    version = added["data"]["addMember"]["version"]

    changed = await gql(
        http,
        office,
        """mutation($id: UUID!, $m: UUID!, $v: Int!) { updateMember(familyId: $id,
            memberId: $m, expectedVersion: $v, input: {name: "Dewi Rahayu"}) { version } }""",
        id=family["id"],
        m=dewi["id"],
        v=version,
    )
    assert "errors" not in changed, changed
    read = (await _rest(http, office, family["id"])).json()
    assert "Dewi Rahayu" in {m["name"] for m in read["members"]}

    removed = await gql(
        http,
        office,
        """mutation($id: UUID!, $m: UUID!, $v: Int!) { removeMember(familyId: $id,
            memberId: $m, expectedVersion: $v) { version } }""",
        id=family["id"],
        m=dewi["id"],
        v=changed["data"]["updateMember"]["version"],
    )
    assert "errors" not in removed, removed
    read = (await _rest(http, office, family["id"])).json()
    assert dewi["id"] not in {m["id"] for m in read["members"]}
    assert len(read["members"]) == len(family["members"])

    gone = await gql(
        http,
        office,
        """mutation($id: UUID!, $m: UUID!, $v: Int!) { removeMember(familyId: $id,
            memberId: $m, expectedVersion: $v) { version } }""",
        id=family["id"],
        m=dewi["id"],
        v=read["version"],
    )
    assert error_code(gone) == "not_found"


async def test_a_second_head_of_family_is_refused_as_on_rest(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await _office(clients)
    family = await _family(http, office)
    head = member_body("KEPALA_KELUARGA", name="Joko")
    rest = await http.post(
        f"/api/v1/kpm/{family['id']}/members",
        json=head,
        headers={**office.headers, "If-Match": f'"{family["version"]}"'},
    )
    result = await gql(
        http,
        office,
        """mutation($id: UUID!, $v: Int!, $m: MemberInput!) {
            addMember(familyId: $id, expectedVersion: $v, input: $m) { version } }""",
        id=family["id"],
        v=family["version"],
        m=_member_input(head),
    )
    assert rest.status_code == 422, rest.text
    assert error_code(result) == rest.json()["code"]
    assert [(e["field"], e["code"]) for e in result["errors"][0]["extensions"]["errors"]] == [
        (e["field"], e["code"]) for e in rest.json()["errors"]
    ]


async def test_verifications_recorded_and_read_as_rest_lists_them(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await _office(clients)
    family = await _family(http, office)
    record = """mutation($id: UUID!, $i: VerificationInput!) {
        recordVerification(familyId: $id, input: $i) { id outcome visitedOn } }"""
    for visited_on, outcome in (("2026-03-02", "eligible"), ("2026-09-14", "moved")):
        result = await gql(
            http, office, record, id=family["id"], i={"visitedOn": visited_on, "outcome": outcome}
        )
        assert "errors" not in result, result

    future = await gql(
        http, office, record, id=family["id"], i={"visitedOn": "2099-01-01", "outcome": "eligible"}
    )
    assert error_code(future) == "validation_failed"
    assert future["errors"][0]["extensions"]["errors"][0]["field"] == "visited_on"

    rest = await http.get(f"/api/v1/kpm/{family['id']}/verifications", headers=office.headers)
    read = await gql(
        http,
        office,
        """query($id: UUID!) { family(id: $id) { verificationStatus
            verifications { id outcome visitedOn } } }""",
        id=family["id"],
    )
    assert read["data"]["family"]["verificationStatus"] == "moved"
    visits = read["data"]["family"]["verifications"]
    assert [(v["id"], v["outcome"], v["visitedOn"]) for v in visits] == [
        (v["id"], v["outcome"], v["visited_on"]) for v in rest.json()
    ]
    assert [v["visitedOn"] for v in visits] == [
        "2026-09-14",
        "2026-03-02",
    ]


async def test_enrollment_moves_and_its_history(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await _office(clients)
    family = await _family(http, office)
    enrolled = await gql(
        http,
        office,
        """mutation($id: UUID!) { enrollFamily(familyId: $id,
            input: {programCode: "PK3E", status: "proposed"}) { programCode status version } }""",
        id=family["id"],
    )
    assert "errors" not in enrolled, enrolled
    again = await gql(
        http,
        office,
        """mutation($id: UUID!) { enrollFamily(familyId: $id, input: {programCode: "PK3E"}) {
            status } }""",
        id=family["id"],
    )
    assert error_code(again) == "already_enrolled"

    change = """mutation($id: UUID!, $v: Int!, $i: EnrollmentChangeInput!) {
        changeEnrollment(familyId: $id, programCode: "PK3E", expectedVersion: $v, input: $i) {
            status version graduationKind } }"""
    active = await gql(
        http, office, change, id=family["id"], v=enrolled["data"]["enrollFamily"]["version"],
        i={"status": "active", "onDate": "2026-02-01"},
    )  # fmt: skip
    assert active["data"]["changeEnrollment"]["status"] == "active", active
    backwards = await gql(
        http, office, change, id=family["id"], v=active["data"]["changeEnrollment"]["version"],
        i={"status": "proposed"},
    )  # fmt: skip
    assert error_code(backwards) == "invalid_transition"
    stale = await gql(
        http, office, change, id=family["id"], v=enrolled["data"]["enrollFamily"]["version"],
        i={"status": "exited"},
    )  # fmt: skip
    assert error_code(stale) == "version_mismatch"
    too_long = await gql(
        http,
        office,
        """mutation($id: UUID!, $p: String!) { changeEnrollment(familyId: $id, programCode: $p,
            expectedVersion: 1, input: {status: "exited"}) { status } }""",
        id=family["id"],
        p="P" * 21,
    )
    rest_too_long = await http.patch(
        f"/api/v1/kpm/{family['id']}/enrollments/{'P' * 21}",
        json={"status": "exited"},
        headers={**office.headers, "If-Match": '"1"'},
    )
    assert [(e["field"], e["code"]) for e in too_long["errors"][0]["extensions"]["errors"]] == [
        (e["field"], e["code"]) for e in rest_too_long.json()["errors"]
    ]

    rest = await http.get(
        f"/api/v1/kpm/{family['id']}/enrollments/PK3E/history", headers=office.headers
    )
    read = await gql(
        http,
        office,
        """query($id: UUID!) { family(id: $id) { enrollments { programCode status
            history { fromStatus toStatus onDate } } } }""",
        id=family["id"],
    )
    (pk3e,) = [e for e in read["data"]["family"]["enrollments"] if e["programCode"] == "PK3E"]
    assert pk3e["status"] == "active"
    assert [(t["fromStatus"], t["toStatus"], t["onDate"]) for t in pk3e["history"]] == [
        (t["from_status"], t["to_status"], t["on_date"]) for t in rest.json()
    ]
    assert [t["toStatus"] for t in pk3e["history"]] == ["proposed", "active"]


async def test_a_family_outside_the_region_is_not_found_for_each_change(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await _office(clients)
    family = await _family(http, office)
    brebes = await clients(region="33.29", scopes=OFFICE)
    for document in (
        "mutation($id: UUID!) { updateFamily(id: $id, expectedVersion: 1, input: {desil: 3}) "
        "{ id } }",
        "mutation($id: UUID!) { recordVerification(familyId: $id, input: {visitedOn: "
        '"2026-01-05", outcome: "eligible"}) { id } }',
        'mutation($id: UUID!) { enrollFamily(familyId: $id, input: {programCode: "PK3E"}) '
        "{ status } }",
    ):
        assert error_code(await gql(http, brebes, document, id=family["id"])) == "not_found"
    assert (await _rest(http, office, family["id"])).json()["version"] == family["version"]


async def test_nested_histories_cost_one_query_per_kind_whatever_the_page(
    http: httpx.AsyncClient, clients: ClientFactory, connection: AsyncConnection
) -> None:
    """A page of families with their visits and enrollment histories: as many queries for ten
    families as for one (DataLoaders)."""
    office = await _office(clients)
    query = """query($v: String!) { families(filter: {villageCode: $v}, limit: 50) {
        items { id verifications { outcome }
            enrollments { programCode history { toStatus } } } } }"""

    async def statements_for(village: str, families: int) -> tuple[int, int]:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(connection.sync_connection, "before_cursor_execute", count)
        try:
            result = await gql(http, office, query, v=village)
        finally:
            event.remove(connection.sync_connection, "before_cursor_execute", count)
        assert "errors" not in result, result
        items = result["data"]["families"]["items"]
        assert len(items) == families
        for item in items:
            (pk3e,) = [e for e in item["enrollments"] if e["programCode"] == "PK3E"]
            assert item["verifications"]
            assert pk3e["history"]
        return (
            len([s for s in seen if "FROM kpm_verification" in s]),
            len([s for s in seen if "FROM kpm_enrollment_transition" in s]),
        )

    for village, count in (("33.28.07.2003", 1), ("33.28.07.2004", 10)):
        for _ in range(count):
            created = await http.post(
                "/api/v1/kpm", json=family_body(village), headers=office.headers
            )
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
    assert await statements_for("33.28.07.2003", 1) == (1, 1)
    assert await statements_for("33.28.07.2004", 10) == (1, 1)
