"""Who may reach training cohorts: the region rule for every endpoint through both doors, and the
scopes."""

from __future__ import annotations

import httpx
import pytest

from tests.api.graphql_calls import error_code, gql
from tests.api.training_setup import GUCI, OFFICE, create_cohort, enrol, move, people, sheet
from tests.factories import ClientFactory, cohort_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


# --- regions: every endpoint, both doors ------------------------------------------------------

# caller region -> does it see (and may change) a cohort held in Guci, 33.28.02.2001?
CALLERS: dict[str, bool] = {
    "national": True,
    "33": True,  # Jawa Tengah
    "35": False,  # another province
    "33.28": True,  # Kabupaten Tegal
    "33.29": False,  # Kabupaten Brebes
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
    cohort = await create_cohort(http, owner, region=GUCI)
    members = await people(http, owner, 1)
    participant = (await enrol(http, owner, cohort["id"], members[0])).json()
    client = await clients(region=None if caller == "national" else caller, scopes=OFFICE)
    url = f"/api/v1/training-cohorts/{cohort['id']}"
    day = cohort["sessions"][0]["id"]
    expect = 200 if inside else 404

    # reads
    assert (await probe.get(url, headers=client.headers)).status_code == expect
    listed = (await probe.get("/api/v1/training-cohorts?limit=500", headers=client.headers)).json()
    assert (cohort["id"] in {c["id"] for c in listed["items"]}) is inside
    assert (await probe.get(f"{url}/participants", headers=client.headers)).status_code == expect
    exported = await probe.get("/api/v1/training-cohorts/export", headers=client.headers)
    assert (cohort["id"] in exported.text) is inside
    participants_file = await probe.get(f"{url}/participants/export", headers=client.headers)
    assert participants_file.status_code == expect
    attendance_url = f"{url}/sessions/{day}/attendance"
    assert (await probe.get(attendance_url, headers=client.headers)).status_code == expect
    one = await gql(
        probe,
        client,
        "query($id: UUID!) { trainingCohort(id: $id) { participants { name } "
        "sessions { attendance { present } } } }",
        id=cohort["id"],
    )
    assert error_code(one) == (None if inside else "not_found")
    many = await gql(probe, client, "{ trainingCohorts(limit: 500) { items { id } } }")
    assert (cohort["id"] in {c["id"] for c in many["data"]["trainingCohorts"]["items"]}) is inside

    # writes to records outside answer as if they did not exist
    patched = await probe.patch(
        url, json={"venue": "Aula Kecamatan"}, headers={**client.headers, "If-Match": '"1"'}
    )
    assert patched.status_code == expect
    added = await probe.post(
        f"{url}/sessions", json={"held_on": "2026-10-20"}, headers=client.headers
    )
    assert added.status_code == (201 if inside else 404)
    again = await enrol(probe, client, cohort["id"], members[1])
    assert again.status_code == (201 if inside else 404)
    participant_url = f"{url}/participants/{participant['id']}"
    assessed = await probe.put(
        f"{participant_url}/assessment", json={"needs": "Modal"}, headers=client.headers
    )
    assert assessed.status_code == expect
    outcome = await probe.put(
        f"{participant_url}/outcome", json={"started_business": False}, headers=client.headers
    )
    assert outcome.status_code == (409 if inside else 404)  # inside: not completed yet
    gql_enrol = await gql(
        probe,
        client,
        "mutation($c: UUID!, $m: UUID!) { enrolParticipant(cohortId: $c, memberId: $m) { id } }",
        c=cohort["id"],
        m=members[2],
    )
    assert error_code(gql_enrol) == (None if inside else "not_found")
    started = await move(probe, client, cohort["id"], "running")
    assert started.status_code == expect
    marked = await sheet(probe, client, cohort["id"], day, {participant["id"]: True})
    assert marked.status_code == expect
    gql_sheet = await gql(
        probe,
        client,
        """mutation($c: UUID!, $s: UUID!, $p: UUID!) { recordAttendance(cohortId: $c,
            sessionId: $s, records: [{participantId: $p, present: false}]) { id } }""",
        c=cohort["id"],
        s=day,
        p=participant["id"],
    )
    assert error_code(gql_sheet) == (None if inside else "not_found")
    withdrawn = await probe.delete(participant_url, headers=client.headers)
    assert withdrawn.status_code == (409 if inside else 404)  # inside: it runs already
    ids = {"c": cohort["id"], "p": participant["id"]}
    gql_withdraw = await gql(
        probe,
        client,
        "mutation($c: UUID!, $p: UUID!) { withdrawParticipant(cohortId: $c, participantId: $p) "
        "{ id } }",
        **ids,
    )
    assert error_code(gql_withdraw) == ("cohort_started" if inside else "not_found")
    gql_assess = await gql(
        probe,
        client,
        "mutation($c: UUID!, $p: UUID!) { setAssessment(cohortId: $c, participantId: $p, "
        'input: {needs: "Modal"}) { id } }',
        **ids,
    )
    assert error_code(gql_assess) == (None if inside else "not_found")
    gql_outcome = await gql(
        probe,
        client,
        "mutation($c: UUID!, $p: UUID!) { setOutcome(cohortId: $c, participantId: $p, "
        "input: {startedBusiness: false}) { id } }",
        **ids,
    )
    assert error_code(gql_outcome) == ("cohort_not_completed" if inside else "not_found")
    gql_session = await gql(
        probe,
        client,
        'mutation($c: UUID!) { addTrainingSession(cohortId: $c, input: {heldOn: "2026-10-21"}) '
        "{ id } }",
        c=cohort["id"],
    )
    assert error_code(gql_session) == (None if inside else "not_found")
    current = (await http.get(url, headers=owner.headers)).json()
    gql_update = await gql(
        probe,
        client,
        "mutation($c: UUID!, $v: Int!) { updateTrainingCohort(cohortId: $c, expectedVersion: $v,"
        ' input: {venue: "Aula Desa"}) { id } }',
        c=cohort["id"],
        v=current["version"],
    )
    assert error_code(gql_update) == (None if inside else "not_found")
    gql_status = await gql(
        probe,
        client,
        'mutation($c: UUID!) { changeTrainingCohortStatus(cohortId: $c, to: "completed") { id } }',
        c=cohort["id"],
    )
    assert error_code(gql_status) == (None if inside else "not_found")

    # creating in a region outside is forbidden
    created = await probe.post(
        "/api/v1/training-cohorts", json=cohort_body(region=GUCI), headers=client.headers
    )
    assert created.status_code == (201 if inside else 403)
    if not inside:
        assert created.json()["code"] == "outside_region"
    gql_create = await gql(
        probe,
        client,
        "mutation($i: TrainingCohortCreateInput!) { createTrainingCohort(input: $i) { id } }",
        i={
            "name": "Pelatihan digital",
            "programCode": "PK3E",
            "topic": "digital",
            "regionCode": GUCI,
            "capacity": 10,
        },
    )
    assert error_code(gql_create) == (None if inside else "outside_region")


async def test_scopes_are_required(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    owner = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, owner)
    reader = await clients(region="33.28", scopes=["training:read"])
    url = f"/api/v1/training-cohorts/{cohort['id']}"
    assert (await http.get(url, headers=reader.headers)).status_code == 200
    write = await http.post("/api/v1/training-cohorts", json=cohort_body(), headers=reader.headers)
    assert write.json()["code"] == "insufficient_scope"
    kube_only = await clients(region="33.28", scopes=["kube:read"])
    assert (await http.get(url, headers=kube_only.headers)).json()["code"] == "insufficient_scope"
