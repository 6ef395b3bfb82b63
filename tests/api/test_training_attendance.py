"""Training attendance: sheets while the cohort runs, completion at the threshold, corrections
that change only what changed."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.changes.tables import ChangeEvent
from tests.api.training_setup import OFFICE, create_cohort, enrol, move, people, sheet
from tests.factories import ClientFactory

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


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
