"""Training through GraphQL: cohorts, enrolment, attendance and completion under the same rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.graphql_calls import error_code, gql
from tests.api.training_setup import OFFICE, move, people
from tests.factories import ClientFactory

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def test_graphql_cohort_enrolment_attendance_and_completion(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    created = await gql(
        http,
        office,
        """mutation($i: TrainingCohortCreateInput!) { createTrainingCohort(input: $i) {
            id status sessions { id heldOn } participantCount } }""",
        i={
            "name": "Pelatihan beternak kambing",
            "programCode": "PK3E",
            "topic": "beternak",
            "regionCode": "3328",
            "capacity": 2,
            "sessions": [{"heldOn": f"2026-10-0{n}"} for n in (1, 2, 3, 4)],
        },
    )
    cohort = created["data"]["createTrainingCohort"]
    assert (cohort["status"], cohort["participantCount"], len(cohort["sessions"])) == (
        "planned",
        0,
        4,
    )
    members = await people(http, office, 1)
    enrol_mutation = """mutation($c: UUID!, $m: UUID!) {
        enrolParticipant(cohortId: $c, memberId: $m, assessment: {needs: "Kandang"}) {
            id name needs completed total } }"""
    participants = []
    for member in members[:2]:
        enrolled = await gql(http, office, enrol_mutation, c=cohort["id"], m=member)
        participants.append(enrolled["data"]["enrolParticipant"])
    assert participants[0]["needs"] == "Kandang"
    assert participants[0]["total"] == 4
    assert error_code(await gql(http, office, enrol_mutation, c=cohort["id"], m=members[2])) == (
        "cohort_full"
    )
    await move(http, office, cohort["id"], "running")
    attendance = """mutation($c: UUID!, $s: UUID!, $r: [AttendanceInput!]!) {
        recordAttendance(cohortId: $c, sessionId: $s, records: $r) {
            participants { id attended completed attendancePct } } }"""
    result: dict[str, Any] = {}
    for index, day in enumerate(cohort["sessions"]):
        result = await gql(
            http,
            office,
            attendance,
            c=cohort["id"],
            s=day["id"],
            r=[
                {"participantId": participants[0]["id"], "present": True},
                {"participantId": participants[1]["id"], "present": index == 0},
            ],
        )
        assert "errors" not in result, result
    assert result["data"]["recordAttendance"]["participants"] == [
        {"id": participants[0]["id"], "attended": 4, "completed": True, "attendancePct": 100.0},
        {"id": participants[1]["id"], "attended": 1, "completed": False, "attendancePct": 25.0},
    ]
    listed = await gql(
        http,
        office,
        """query($f: TrainingCohortFilterInput) { trainingCohorts(filter: $f) {
            items { id participantCount participants { name } } } }""",
        f={"topic": "beternak", "status": "running"},
    )
    assert listed["data"]["trainingCohorts"]["items"] == [
        {
            "id": cohort["id"],
            "participantCount": 2,
            "participants": [{"name": "Slamet Riyadi"}, {"name": "Siti Aminah"}],
        }
    ]
