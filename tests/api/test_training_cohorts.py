"""Training cohorts: read back after create, lists, changes under If-Match, sessions, the status
machine, validation as problem+json."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from tests.api.training_setup import OFFICE, create_cohort, enrol, move, people
from tests.factories import ClientFactory, cohort_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


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


async def test_patch_with_if_match(http: httpx.AsyncClient, clients: ClientFactory) -> None:
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
    read = (await http.get(url, headers=office.headers)).json()
    assert (read["capacity"], read["topic"], read["completion_threshold"], read["version"]) == (
        60,
        "tata_boga",
        80,
        2,
    )


async def test_sessions_and_status_machine(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    cohort = await create_cohort(http, office, session_days=[], completion_threshold=80)
    url = f"/api/v1/training-cohorts/{cohort['id']}"

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
    assert added.json()["version"] == 2
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


async def test_a_cancelled_cohort_takes_no_one(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    planned = await create_cohort(http, office)
    assert (await move(http, office, planned["id"], "cancelled")).status_code == 200
    late = await enrol(http, office, planned["id"], (await people(http, office, 1))[0])
    assert late.json()["code"] == "cohort_closed"


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
