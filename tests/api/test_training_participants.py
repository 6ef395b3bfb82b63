"""Training participants: enrolment rules and capacity (also in parallel), the assessment, where
participants come from, outcomes after a completed cohort."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from tests.api.training_setup import GUCI, OFFICE, create_cohort, enrol, move, people
from tests.factories import ClientFactory

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


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
