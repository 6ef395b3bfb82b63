"""The training operations REST has, through GraphQL: each does what its REST endpoint does
(read back through REST), and refuses with the code REST's problem carries."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.api.graphql_calls import error_code, gql
from tests.api.training_setup import OFFICE, create_cohort, enrol, move, people, sheet
from tests.factories import ClientFactory, IssuedClient

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

COHORTS = "/api/v1/training-cohorts"


async def _read(http: httpx.AsyncClient, client: IssuedClient, url: str) -> Any:
    response = await http.get(url, headers=client.headers)
    assert response.status_code == 200, response.text
    return response.json()


UPDATE = """mutation($c: UUID!, $v: Int!, $i: TrainingCohortUpdateInput!) {
    updateTrainingCohort(cohortId: $c, expectedVersion: $v, input: $i) { venue capacity version }
}"""


async def test_update_cohort(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office)
    for member in (await people(http, office, 1))[:2]:
        assert (await enrol(http, office, cohort["id"], member)).status_code == 201
    changed = await gql(
        http, office, UPDATE, c=cohort["id"], v=1, i={"venue": "Aula Kecamatan", "capacity": 12}
    )
    assert changed["data"]["updateTrainingCohort"]["version"] == 2, changed
    read = await _read(http, office, f"{COHORTS}/{cohort['id']}")
    assert (read["venue"], read["capacity"], read["name"]) == ("Aula Kecamatan", 12, cohort["name"])
    shrink = await gql(http, office, UPDATE, c=cohort["id"], v=2, i={"capacity": 1})
    assert error_code(shrink) == "capacity_below_participants"
    stale = await gql(http, office, UPDATE, c=cohort["id"], v=1, i={"capacity": 20})
    assert error_code(stale) == "version_mismatch"
    assert (await _read(http, office, f"{COHORTS}/{cohort['id']}"))["capacity"] == 12


STATUS = """mutation($c: UUID!, $to: String!) {
    changeTrainingCohortStatus(cohortId: $c, to: $to) { status }
}"""
ADD_SESSION = """mutation($c: UUID!, $d: Date!, $v: Int) {
    addTrainingSession(cohortId: $c, input: {heldOn: $d, title: "Pola"}, expectedVersion: $v) {
        sessions { heldOn title } version
    }
}"""


async def test_sessions_and_status(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office, session_days=[])
    no_sessions = await gql(http, office, STATUS, c=cohort["id"], to="running")
    assert error_code(no_sessions) == "no_sessions"
    added = await gql(http, office, ADD_SESSION, c=cohort["id"], d="2026-11-02", v=1)
    assert added["data"]["addTrainingSession"]["version"] == 2, added
    again = await gql(http, office, ADD_SESSION, c=cohort["id"], d="2026-11-02")
    assert error_code(again) == "validation_failed"
    assert again["errors"][0]["extensions"]["errors"][0]["code"] == "duplicate_session"
    running = await gql(http, office, STATUS, c=cohort["id"], to="running")
    assert running["data"]["changeTrainingCohortStatus"]["status"] == "running", running
    read = await _read(http, office, f"{COHORTS}/{cohort['id']}")
    assert (read["status"], [(s["held_on"], s["title"]) for s in read["sessions"]]) == (
        "running",
        [("2026-11-02", "Pola")],
    )
    backwards = await gql(http, office, STATUS, c=cohort["id"], to="planned")
    assert error_code(backwards) == "invalid_transition"


SHEET = """query($c: UUID!) { trainingCohort(id: $c) {
    sessions { id attendance { participantId present } }
    participants { id name attended total completed }
} }"""


async def test_attendance_and_participants_read_as_rest(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office)
    first, second = (await people(http, office, 1))[:2]
    one = (await enrol(http, office, cohort["id"], first)).json()
    two = (await enrol(http, office, cohort["id"], second)).json()
    await move(http, office, cohort["id"], "running")
    day = cohort["sessions"][0]["id"]
    marked = await sheet(http, office, cohort["id"], day, {one["id"]: True, two["id"]: False})
    assert marked.status_code == 200, marked.text

    read = (await gql(http, office, SHEET, c=cohort["id"]))["data"]["trainingCohort"]
    url = f"{COHORTS}/{cohort['id']}"
    for session in read["sessions"]:
        rest = await _read(http, office, f"{url}/sessions/{session['id']}/attendance")
        assert [(m["participantId"], m["present"]) for m in session["attendance"]] == [
            (r["participant_id"], r["present"]) for r in rest
        ]
    assert sorted(
        (m["participantId"], m["present"]) for m in read["sessions"][0]["attendance"]
    ) == (sorted([(one["id"], True), (two["id"], False)]))
    rest_people = await _read(http, office, f"{url}/participants")
    assert [(p["id"], p["name"], p["attended"], p["total"]) for p in read["participants"]] == [
        (p["id"], p["name"], p["attended"], p["total"]) for p in rest_people
    ]
    outsider = await clients(region="33.29", scopes=OFFICE)
    hidden = await gql(http, outsider, SHEET, c=cohort["id"])
    assert error_code(hidden) == "not_found"


WITHDRAW = """mutation($c: UUID!, $p: UUID!) {
    withdrawParticipant(cohortId: $c, participantId: $p) { participantCount }
}"""


async def test_withdraw_participant(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office)
    first, second = (await people(http, office, 1))[:2]
    leaving = (await enrol(http, office, cohort["id"], first)).json()
    staying = (await enrol(http, office, cohort["id"], second)).json()
    left = await gql(http, office, WITHDRAW, c=cohort["id"], p=leaving["id"])
    assert left["data"]["withdrawParticipant"]["participantCount"] == 1, left
    listed = await _read(http, office, f"{COHORTS}/{cohort['id']}/participants")
    assert [p["id"] for p in listed] == [staying["id"]]
    await move(http, office, cohort["id"], "running")
    started = await gql(http, office, WITHDRAW, c=cohort["id"], p=staying["id"])
    assert error_code(started) == "cohort_started"


ASSESS = """mutation($c: UUID!, $p: UUID!, $i: AssessmentInput!) {
    setAssessment(cohortId: $c, participantId: $p, input: $i) { needs version }
}"""
OUTCOME = """mutation($c: UUID!, $p: UUID!, $i: OutcomeInput!) {
    setOutcome(cohortId: $c, participantId: $p, input: $i) { startedBusiness businessKind }
}"""


async def test_assessment_and_outcome(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office)
    person = (await enrol(http, office, cohort["id"], (await people(http, office, 1))[0])).json()
    ids = {"c": cohort["id"], "p": person["id"]}
    assessed = await gql(
        http, office, ASSESS, **ids, i={"needs": "Mesin jahit", "notes": "Pernah ikut"}
    )
    assert assessed["data"]["setAssessment"]["needs"] == "Mesin jahit", assessed
    outcome = {"startedBusiness": True, "businessKind": "Jasa jahit"}
    early = await gql(http, office, OUTCOME, **ids, i=outcome)
    assert error_code(early) == "cohort_not_completed"
    await move(http, office, cohort["id"], "running")
    await move(http, office, cohort["id"], "completed")
    vague = await gql(http, office, OUTCOME, **ids, i={"startedBusiness": True})
    assert error_code(vague) == "validation_failed"
    assert vague["errors"][0]["extensions"]["errors"][0]["field"] == "business_kind"
    recorded = await gql(http, office, OUTCOME, **ids, i=outcome)
    assert error_code(recorded) is None, recorded
    (listed,) = await _read(http, office, f"{COHORTS}/{cohort['id']}/participants")
    assert listed["assessment"] == {
        "needs": "Mesin jahit",
        "business_potential": None,
        "notes": "Pernah ikut",
    }
    assert listed["outcome"] == {"started_business": True, "business_kind": "Jasa jahit"}


async def test_attendance_of_a_page_of_cohorts_is_one_query(
    http: httpx.AsyncClient, clients: ClientFactory, connection: AsyncConnection
) -> None:
    """The sheets of every session of every cohort in a page come through one DataLoader
    query: as many for three cohorts as for one."""
    office = await clients(region="33.28", scopes=OFFICE)
    marker = uuid.uuid4().hex[:8]
    for index in range(3):
        cohort = await create_cohort(http, office, name=f"Pelatihan {marker} {index}")
        (member,) = (await people(http, office, 1))[:1]
        person = (await enrol(http, office, cohort["id"], member)).json()
        await move(http, office, cohort["id"], "running")
        day = cohort["sessions"][0]["id"]
        assert (await sheet(http, office, cohort["id"], day, {person["id"]: True})).is_success
    query = """query($f: TrainingCohortFilterInput) { trainingCohorts(filter: $f, limit: 50) {
        items { sessions { attendance { present } } } } }"""

    async def sheets_read(name: str) -> tuple[int, int]:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(connection.sync_connection, "before_cursor_execute", count)
        try:
            result = await gql(http, office, query, f={"name": name})
        finally:
            event.remove(connection.sync_connection, "before_cursor_execute", count)
        items = result["data"]["trainingCohorts"]["items"]
        marks = sum(len(s["attendance"]) for c in items for s in c["sessions"])
        return marks, len([s for s in seen if "FROM training_attendance" in s])

    assert await sheets_read(f"{marker} 0") == (1, 1)
    assert await sheets_read(marker) == (3, 1)
