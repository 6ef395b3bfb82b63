"""Training cohorts: read back after writes, the status machine, capacity (also under parallel
enrolment), attendance and completion at the threshold, outcomes, regions through both doors."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.auth import secrets
from service.changes.tables import ChangeEvent
from tests.factories import ClientFactory, IssuedClient, cohort_body, family_body

OFFICE = ["kpm:read", "kpm:write", "training:read", "training:write", "facilitators:write"]
GUCI = "33.28.02.2001"


@pytest.fixture(autouse=True)
def cheap_secret_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests make a few clients each and never present their secrets (tokens are issued
    directly), so a cheap Argon2id saves ~0.3 s a client without changing what is stored."""
    monkeypatch.setattr(
        secrets, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


async def people(
    http: httpx.AsyncClient, client: IssuedClient, families: int, village: str = GUCI
) -> list[str]:
    """Member ids of ``families`` new families of three."""
    ids: list[str] = []
    for _ in range(families):
        response = await http.post("/api/v1/kpm", json=family_body(village), headers=client.headers)
        assert response.status_code == 201, response.text
        ids.extend(str(member["id"]) for member in response.json()["members"])
    return ids


async def create_cohort(
    http: httpx.AsyncClient, client: IssuedClient, **overrides: Any
) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/training-cohorts", json=cohort_body(**overrides), headers=client.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def move(
    http: httpx.AsyncClient, client: IssuedClient, cohort_id: str, to: str
) -> httpx.Response:
    return await http.post(
        f"/api/v1/training-cohorts/{cohort_id}/transitions", json={"to": to}, headers=client.headers
    )


async def enrol(
    http: httpx.AsyncClient, client: IssuedClient, cohort_id: str, member_id: str, **extra: Any
) -> httpx.Response:
    return await http.post(
        f"/api/v1/training-cohorts/{cohort_id}/participants",
        json={"member_id": member_id, **extra},
        headers=client.headers,
    )


async def sheet(
    http: httpx.AsyncClient,
    client: IssuedClient,
    cohort_id: str,
    session_id: str,
    present: dict[str, bool],
) -> httpx.Response:
    return await http.put(
        f"/api/v1/training-cohorts/{cohort_id}/sessions/{session_id}/attendance",
        json={"records": [{"participant_id": p, "present": v} for p, v in present.items()]},
        headers=client.headers,
    )


async def test_create_and_read_back_with_audit_and_change_event(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    facilitator = await http.post(
        "/api/v1/facilitators",
        json={"name": "Bu Nurhayati", "kind": "TKSK", "region_code": "33.28.02"},
        headers=office.headers,
    )
    body = cohort_body(
        region="332802",
        facilitator_id=facilitator.json()["id"],
        session_days=[dt.date(2026, 10, 7), dt.date(2026, 10, 5)],
    )
    body["sessions"][0]["title"] = "Pola dasar"
    created = await http.post("/api/v1/training-cohorts", json=body, headers=office.headers)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    cohort_id = created.json()["id"]
    assert created.headers["location"] == f"/api/v1/training-cohorts/{cohort_id}"

    read = (await http.get(f"/api/v1/training-cohorts/{cohort_id}", headers=office.headers)).json()
    assert (read["region_code"], read["topic"], read["program_code"], read["status"]) == (
        "33.28.02",
        "menjahit",
        "PK3E",
        "planned",
    )
    assert (read["capacity"], read["completion_threshold"], read["participant_count"]) == (
        30,
        75,
        0,
    )
    assert (read["facilitator_id"], read["trainer_name"], read["venue"]) == (
        facilitator.json()["id"],
        "Ibu Ratna",
        "Balai Desa Guci",
    )
    assert [(s["held_on"], s["title"]) for s in read["sessions"]] == [
        ("2026-10-05", None),
        ("2026-10-07", "Pola dasar"),
    ]

    audit = (
        await session.scalars(select(AuditEntry).where(col(AuditEntry.record_id) == cohort_id))
    ).one()
    assert (audit.action, audit.entity, audit.region_code) == (
        "create",
        "training_cohort",
        "33.28.02",
    )
    assert audit.changes is not None
    assert audit.changes["capacity"] == [None, 30]
    assert audit.changes["sessions"] == [None, 2]
    change = (
        await session.scalars(select(ChangeEvent).where(col(ChangeEvent.record_id) == cohort_id))
    ).one()
    assert (change.entity, change.action, change.version) == ("training_cohort", "create", 1)

    listed = await http.get(
        "/api/v1/training-cohorts",
        params={"region": "33.28", "topic": "menjahit", "status": "planned", "name": "menjahit"},
        headers=office.headers,
    )
    assert cohort_id in [c["id"] for c in listed.json()["items"]]
    for params in ({"topic": "beternak"}, {"status": "running"}, {"region": "33.29"}):
        other = await http.get("/api/v1/training-cohorts", params=params, headers=office.headers)
        assert cohort_id not in [c["id"] for c in other.json()["items"]]


async def test_patch_sessions_and_status_machine(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office, session_days=[])
    url = f"/api/v1/training-cohorts/{cohort['id']}"

    patched = await http.patch(
        url,
        json={"capacity": 60, "topic": "tata_boga", "completion_threshold": 80},
        headers={**office.headers, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    assert (patched.json()["capacity"], patched.json()["topic"]) == (60, "tata_boga")
    stale = await http.patch(
        url, json={"capacity": 5}, headers={**office.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert (await http.patch(url, json={"capacity": 5}, headers=office.headers)).status_code == 428

    no_sessions = await move(http, office, cohort["id"], "running")
    assert no_sessions.status_code == 409
    assert no_sessions.json()["code"] == "no_sessions"
    skipped = await move(http, office, cohort["id"], "completed")
    assert skipped.json()["code"] == "invalid_transition"
    added = await http.post(
        f"{url}/sessions", json={"held_on": "2026-11-02"}, headers=office.headers
    )
    assert added.status_code == 201, added.text
    assert [s["held_on"] for s in added.json()["sessions"]] == ["2026-11-02"]
    assert added.json()["version"] == 3
    again = await http.post(
        f"{url}/sessions", json={"held_on": "2026-11-02"}, headers=office.headers
    )
    assert again.status_code == 422
    assert again.json()["errors"][0] == {
        "field": "held_on",
        "code": "duplicate_session",
        "message": "The cohort meets that day.",
    }
    assert (await move(http, office, cohort["id"], "running")).status_code == 200
    assert (await move(http, office, cohort["id"], "planned")).json()[
        "code"
    ] == "invalid_transition"
    assert (await move(http, office, cohort["id"], "completed")).status_code == 200
    for target in ("running", "cancelled"):
        final = await move(http, office, cohort["id"], target)
        assert final.status_code == 409
        assert final.json()["code"] == "invalid_transition"
    closed = await http.post(
        f"{url}/sessions", json={"held_on": "2026-11-03"}, headers=office.headers
    )
    assert closed.json()["code"] == "cohort_closed"
    read = (await http.get(url, headers=office.headers)).json()
    assert (read["status"], read["completion_threshold"], len(read["sessions"])) == (
        "completed",
        80,
        1,
    )

    planned = await create_cohort(http, office)
    assert (await move(http, office, planned["id"], "cancelled")).status_code == 200
    late = await enrol(http, office, planned["id"], (await people(http, office, 1))[0])
    assert late.json()["code"] == "cohort_closed"


async def test_enrolment_rules_and_assessment(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office, capacity=3)
    members = await people(http, office, 2)
    first = await enrol(
        http,
        office,
        cohort["id"],
        members[0],
        assessment={"needs": "Mesin jahit", "business_potential": "Jasa permak"},
    )
    assert first.status_code == 201, first.text
    participant = first.json()
    assert (participant["member_id"], participant["name"], participant["total"]) == (
        members[0],
        "Slamet Riyadi",
        4,
    )
    assert participant["assessment"] == {
        "needs": "Mesin jahit",
        "business_potential": "Jasa permak",
        "notes": None,
    }
    assert (participant["completed"], participant["outcome"]) == (False, None)
    twice = await enrol(http, office, cohort["id"], members[0])
    assert twice.status_code == 409
    assert twice.json()["code"] == "already_enrolled"
    for member in members[1:3]:
        assert (await enrol(http, office, cohort["id"], member)).status_code == 201
    full = await enrol(http, office, cohort["id"], members[3])
    assert full.status_code == 409
    assert full.json()["code"] == "cohort_full"
    shrink = await http.patch(
        f"/api/v1/training-cohorts/{cohort['id']}",
        json={"capacity": 2},
        headers={**office.headers, "If-Match": '"1"'},
    )
    assert shrink.json()["code"] == "capacity_below_participants"

    withdrawn = await http.delete(
        f"/api/v1/training-cohorts/{cohort['id']}/participants/{participant['id']}",
        headers=office.headers,
    )
    assert withdrawn.status_code == 204
    assert (await enrol(http, office, cohort["id"], members[3])).status_code == 201

    listed = (
        await http.get(
            f"/api/v1/training-cohorts/{cohort['id']}/participants", headers=office.headers
        )
    ).json()
    assert [p["member_id"] for p in listed] == [members[1], members[2], members[3]]
    assessed = await http.put(
        f"/api/v1/training-cohorts/{cohort['id']}/participants/{listed[0]['id']}/assessment",
        json={"needs": "Modal kain", "notes": "Pernah ikut pelatihan"},
        headers=office.headers,
    )
    assert assessed.status_code == 200
    assert assessed.json()["assessment"]["notes"] == "Pernah ikut pelatihan"
    assert assessed.json()["version"] == 2
    audit = (
        await session.scalars(
            select(AuditEntry).where(
                col(AuditEntry.record_id) == listed[0]["id"], col(AuditEntry.action) == "update"
            )
        )
    ).one()
    assert audit.changes == {  # what a person needs is not repeated in the audit trail
        "assessment_notes": ["***", "***"],
        "needs": ["***", "***"],
    }
    cohort_now = (
        await http.get(f"/api/v1/training-cohorts/{cohort['id']}", headers=office.headers)
    ).json()
    assert cohort_now["participant_count"] == 3


async def test_participants_come_from_the_cohorts_regency(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    province = await clients(region="33", scopes=OFFICE)
    village = await clients(region=GUCI, scopes=OFFICE)
    cohort = await create_cohort(http, province, region="33.28.02")
    brebes = await people(http, province, 1, "33.29.01.2001")
    refused = await enrol(http, province, cohort["id"], brebes[0])
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "member_id"
    assert refused.json()["errors"][0]["code"] == "outside_cohort_region"
    # another district of the same regency may come
    bumijawa = await people(http, province, 1, "33.28.01.2001")
    assert (await enrol(http, province, cohort["id"], bumijawa[0])).status_code == 201
    # a village system does not see the cohort held at district level
    hidden = await enrol(http, village, cohort["id"], bumijawa[1])
    assert hidden.status_code == 404
    own = await create_cohort(http, village, region=GUCI)
    neighbour = await people(http, province, 1, "33.28.02.2002")
    unseen = await enrol(http, village, own["id"], neighbour[0])
    assert unseen.json()["errors"][0]["code"] == "unknown_member"
    bad = await http.post(
        f"/api/v1/training-cohorts/{own['id']}/participants",
        json={"member_id": "nope"},
        headers=village.headers,
    )
    assert bad.json()["errors"][0]["field"] == "member_id"


async def test_attendance_completion_at_the_threshold(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office)  # four past sessions, threshold 75%
    cohort_id = cohort["id"]
    days = [s["id"] for s in cohort["sessions"]]
    members = await people(http, office, 1)
    ids = [(await enrol(http, office, cohort_id, m)).json()["id"] for m in members]
    three, two, four = ids

    early = await sheet(http, office, cohort_id, days[0], {three: True})
    assert early.status_code == 409
    assert early.json()["code"] == "cohort_not_running"
    await move(http, office, cohort_id, "running")
    pattern = {
        three: [True, True, True, False],
        two: [True, False, True, False],
        four: [True, True, True, True],
    }
    for index, day in enumerate(days):
        response = await sheet(
            http, office, cohort_id, day, {p: marks[index] for p, marks in pattern.items()}
        )
        assert response.status_code == 200, response.text
    stored = await http.get(
        f"/api/v1/training-cohorts/{cohort_id}/sessions/{days[1]}/attendance",
        headers=office.headers,
    )
    assert {(r["participant_id"], r["present"]) for r in stored.json()} == {
        (three, True),
        (two, False),
        (four, True),
    }

    async def completion() -> dict[str, tuple[int, int, float, bool]]:
        listed = await http.get(
            f"/api/v1/training-cohorts/{cohort_id}/participants", headers=office.headers
        )
        return {
            p["id"]: (p["attended"], p["total"], p["attendance_pct"], p["completed"])
            for p in listed.json()
        }

    assert await completion() == {
        three: (3, 4, 75.0, True),  # exactly the threshold completes
        two: (2, 4, 50.0, False),
        four: (4, 4, 100.0, True),
    }

    # Sending a sheet again changes nothing: no version, no change event.
    events_before = await session.scalar(select(func.count()).select_from(ChangeEvent))
    again = await sheet(http, office, cohort_id, days[0], {p: True for p in ids})
    assert again.status_code == 200
    assert await session.scalar(select(func.count()).select_from(ChangeEvent)) == events_before
    # A correction is a change of that participant only.
    await sheet(http, office, cohort_id, days[1], {two: True})
    events = (
        await session.scalars(
            select(ChangeEvent)
            .where(col(ChangeEvent.entity) == "training_participant")
            .where(col(ChangeEvent.record_id) == two)
            .order_by(col(ChangeEvent.id))
        )
    ).all()
    # enrolment, four sheets (absent is recorded too), the correction
    assert [e.action for e in events] == ["create"] + ["attendance"] * 5
    assert (await completion())[two] == (3, 4, 75.0, True)

    future = await http.post(
        f"/api/v1/training-cohorts/{cohort_id}/sessions",
        json={"held_on": (dt.date.today() + dt.timedelta(days=10)).isoformat()},
        headers=office.headers,
    )
    assert future.status_code == 201
    assert (await completion())[three] == (3, 5, 60.0, False)  # a new session raises the bar
    future_day = next(s["id"] for s in future.json()["sessions"] if s["id"] not in days)
    not_yet = await sheet(http, office, cohort_id, future_day, {three: True})
    assert not_yet.json()["code"] == "session_in_future"
    stranger = await sheet(
        http, office, cohort_id, days[0], {three: True, cohort_id: True, four: False}
    )
    assert stranger.status_code == 422
    assert stranger.json()["errors"] == [
        {
            "field": "records.1.participant_id",
            "code": "unknown_participant",
            "message": "Not a participant of this cohort.",
        }
    ]
    missing = await sheet(http, office, cohort_id, cohort_id, {three: True})
    assert missing.status_code == 404


async def test_outcomes_follow_a_completed_cohort(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office)
    member = (await people(http, office, 1))[0]
    participant = (await enrol(http, office, cohort["id"], member)).json()
    url = f"/api/v1/training-cohorts/{cohort['id']}/participants/{participant['id']}/outcome"
    outcome = {"started_business": True, "business_kind": "Jasa jahit"}
    early = await http.put(url, json=outcome, headers=office.headers)
    assert early.json()["code"] == "cohort_not_completed"
    leaving = await http.delete(
        f"/api/v1/training-cohorts/{cohort['id']}/participants/{participant['id']}",
        headers=office.headers,
    )
    assert leaving.status_code == 204  # before the start a place can be given back
    participant = (await enrol(http, office, cohort["id"], member)).json()
    url = f"/api/v1/training-cohorts/{cohort['id']}/participants/{participant['id']}/outcome"
    await move(http, office, cohort["id"], "running")
    started = await http.delete(
        f"/api/v1/training-cohorts/{cohort['id']}/participants/{participant['id']}",
        headers=office.headers,
    )
    assert started.json()["code"] == "cohort_started"
    await move(http, office, cohort["id"], "completed")
    vague = await http.put(url, json={"started_business": True}, headers=office.headers)
    assert vague.status_code == 422
    assert vague.json()["errors"][0]["field"] == "business_kind"
    recorded = await http.put(url, json=outcome, headers=office.headers)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["outcome"] == outcome
    listed = (
        await http.get(
            f"/api/v1/training-cohorts/{cohort['id']}/participants", headers=office.headers
        )
    ).json()
    assert listed[0]["outcome"] == outcome


async def test_validation_is_problem_json_naming_fields(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    body = cohort_body(topic="menari", capacity=0, completion_threshold=101)
    body["sessions"].append({"held_on": "2026-13-01"})
    schema = await http.post("/api/v1/training-cohorts", json=body, headers=office.headers)
    assert schema.status_code == 422
    assert schema.headers["content-type"] == "application/problem+json"
    assert {(e["field"], e["code"]) for e in schema.json()["errors"]} == {
        ("topic", "enum"),
        ("capacity", "greater_than_equal"),
        ("completion_threshold", "less_than_equal"),
        ("sessions.4.held_on", "date_from_datetime_parsing"),
    }
    body = cohort_body(region="33.99", program_code="NOSUCH")
    body["sessions"].append(dict(body["sessions"][0]))
    rules = await http.post("/api/v1/training-cohorts", json=body, headers=office.headers)
    assert {(e["field"], e["code"]) for e in rules.json()["errors"]} == {
        ("region_code", "unknown_region"),
        ("program_code", "unknown_program"),
        ("sessions.4.held_on", "duplicate_session"),
    }
    cohort = await create_cohort(http, office)
    empty = await http.put(
        f"/api/v1/training-cohorts/{cohort['id']}/sessions/{cohort['sessions'][0]['id']}/attendance",
        json={"records": []},
        headers=office.headers,
    )
    assert empty.json()["errors"][0]["field"] == "records"


async def test_parallel_enrolments_never_pass_capacity(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    office = await live_clients(region="35.75", scopes=OFFICE)  # Kota Pasuruan
    village = "35.75.01.1003"
    cohort = await create_cohort(live_http, office, region=village, capacity=5)
    members = (await people(live_http, office, 7, village))[:20]
    responses = await asyncio.gather(*(enrol(live_http, office, cohort["id"], m) for m in members))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 5 + [409] * 15
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"cohort_full"}
    listed = await live_http.get(
        f"/api/v1/training-cohorts/{cohort['id']}/participants", headers=office.headers
    )
    assert len(listed.json()) == 5


async def test_parallel_enrolments_of_one_person_give_one_place(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    office = await live_clients(region="35.75", scopes=OFFICE)
    village = "35.75.01.1004"
    cohort = await create_cohort(live_http, office, region=village, capacity=10)
    (member, *_) = await people(live_http, office, 1, village)
    responses = await asyncio.gather(
        *(enrol(live_http, office, cohort["id"], member) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5


# --- GraphQL ---------------------------------------------------------------------------------


async def gql(
    http: httpx.AsyncClient, client: IssuedClient, query: str, **variables: Any
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=client.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def error_code(result: dict[str, Any]) -> str | None:
    errors = result.get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


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
    http: httpx.AsyncClient, clients: ClientFactory, caller: str, inside: bool
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
    assert (await http.get(url, headers=client.headers)).status_code == expect
    listed = (await http.get("/api/v1/training-cohorts?limit=500", headers=client.headers)).json()
    assert (cohort["id"] in {c["id"] for c in listed["items"]}) is inside
    assert (await http.get(f"{url}/participants", headers=client.headers)).status_code == expect
    attendance_url = f"{url}/sessions/{day}/attendance"
    assert (await http.get(attendance_url, headers=client.headers)).status_code == expect
    one = await gql(
        http,
        client,
        "query($id: UUID!) { trainingCohort(id: $id) { participants { name } } }",
        id=cohort["id"],
    )
    assert error_code(one) == (None if inside else "not_found")
    many = await gql(http, client, "{ trainingCohorts(limit: 500) { items { id } } }")
    assert (cohort["id"] in {c["id"] for c in many["data"]["trainingCohorts"]["items"]}) is inside

    # writes to records outside answer as if they did not exist
    patched = await http.patch(
        url, json={"venue": "Aula Kecamatan"}, headers={**client.headers, "If-Match": '"1"'}
    )
    assert patched.status_code == expect
    added = await http.post(
        f"{url}/sessions", json={"held_on": "2026-10-20"}, headers=client.headers
    )
    assert added.status_code == (201 if inside else 404)
    again = await enrol(http, client, cohort["id"], members[1])
    assert again.status_code == (201 if inside else 404)
    participant_url = f"{url}/participants/{participant['id']}"
    assessed = await http.put(
        f"{participant_url}/assessment", json={"needs": "Modal"}, headers=client.headers
    )
    assert assessed.status_code == expect
    outcome = await http.put(
        f"{participant_url}/outcome", json={"started_business": False}, headers=client.headers
    )
    assert outcome.status_code == (409 if inside else 404)  # inside: not completed yet
    gql_enrol = await gql(
        http,
        client,
        "mutation($c: UUID!, $m: UUID!) { enrolParticipant(cohortId: $c, memberId: $m) { id } }",
        c=cohort["id"],
        m=members[2],
    )
    assert error_code(gql_enrol) == (None if inside else "not_found")
    started = await move(http, client, cohort["id"], "running")
    assert started.status_code == expect
    marked = await sheet(http, client, cohort["id"], day, {participant["id"]: True})
    assert marked.status_code == expect
    gql_sheet = await gql(
        http,
        client,
        """mutation($c: UUID!, $s: UUID!, $p: UUID!) { recordAttendance(cohortId: $c,
            sessionId: $s, records: [{participantId: $p, present: false}]) { id } }""",
        c=cohort["id"],
        s=day,
        p=participant["id"],
    )
    assert error_code(gql_sheet) == (None if inside else "not_found")
    withdrawn = await http.delete(participant_url, headers=client.headers)
    assert withdrawn.status_code == (409 if inside else 404)  # inside: it runs already

    # creating in a region outside is forbidden
    created = await http.post(
        "/api/v1/training-cohorts", json=cohort_body(region=GUCI), headers=client.headers
    )
    assert created.status_code == (201 if inside else 403)
    if not inside:
        assert created.json()["code"] == "outside_region"
    gql_create = await gql(
        http,
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
