"""Reports read back what was recorded, region by region, as JSON and as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.api.kube_setup import active_group, create_group, families
from tests.api.training_setup import create_cohort, enrol, move, people, sheet
from tests.factories import (
    ClientFactory,
    IssuedClient,
    family_body,
    grant_body,
    move_disbursement,
    new_allocation,
    new_disbursement,
    program_body,
)

PASURUAN = "35.75"  # Kota Pasuruan
JATINEGARA_VILLAGE = "33.28.07.2001"  # a village of Jatinegara, Kabupaten Tegal


async def _family(http: httpx.AsyncClient, client: IssuedClient, **overrides: Any) -> str:
    response = await http.post("/api/v1/kpm", json=family_body(**overrides), headers=client.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _verify(http: httpx.AsyncClient, client: IssuedClient, family: str, outcome: str) -> None:
    response = await http.post(
        f"/api/v1/kpm/{family}/verifications",
        json={"visited_on": "2026-03-02", "outcome": outcome},
        headers=client.headers,
    )
    assert response.status_code == 201, response.text


def _funnel(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {row["step"]: (row["families"], row["people"]) for row in body["rows"]}


def _added(
    now: dict[str, tuple[int, int]], before: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    return {step: (f - before[step][0], p - before[step][1]) for step, (f, p) in now.items()}


async def test_verification_funnel_counts_families_and_people(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region=PASURUAN)
    # Other tests may have committed families here: count what this test adds.
    url = "/api/v1/reports/verification-funnel"
    start = {
        region: _funnel((await http.get(f"{url}?region={region}", headers=office.headers)).json())
        for region in (PASURUAN, "35.75.01", "35.75.02")
    }
    in_karangketug = [await _family(http, office, village="35.75.01.1001") for _ in range(3)]
    in_pohjentrek = [await _family(http, office, village="35.75.02.1001") for _ in range(2)]
    await _verify(http, office, in_karangketug[0], "ineligible")
    await _verify(http, office, in_karangketug[0], "eligible")  # the latest visit counts
    await _verify(http, office, in_karangketug[1], "moved")
    await _verify(http, office, in_pohjentrek[0], "eligible")
    archived = await _family(http, office, village="35.75.02.1001")
    await http.post(
        f"/api/v1/kpm/{archived}/archive",
        json={"reason": "Data ganda"},
        headers={**office.headers, "If-Match": '"1"'},
    )

    response = await http.get(url, headers=office.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["region_code"] == PASURUAN
    # Each family of the factory has three people.
    assert _added(_funnel(body), start[PASURUAN]) == {
        "listed": (5, 15),
        "unverified": (2, 6),
        "eligible": (2, 6),
        "ineligible": (0, 0),
        "not_found": (0, 0),
        "moved": (1, 3),
        "deceased": (0, 0),
    }
    district = await http.get(f"{url}?region=357501", headers=office.headers)
    assert district.json()["region_code"] == "35.75.01"
    assert _added(_funnel(district.json()), start["35.75.01"])["listed"] == (3, 9)

    as_csv = await http.get(f"{url}?format=csv&region=35.75.02", headers=office.headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = {
        row["step"]: (int(row["families"]), int(row["people"]))
        for row in csv.DictReader(io.StringIO(as_csv.text))
    }
    assert list(rows)[:3] == ["listed", "unverified", "eligible"]
    added = _added(rows, start["35.75.02"])
    assert (added["listed"], added["eligible"]) == ((2, 6), (1, 3))


async def test_reports_stay_inside_the_callers_region(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region=PASURUAN)
    elsewhere = await clients(region="35.73")  # Kota Malang
    url = "/api/v1/reports/verification-funnel"
    before = await http.get(url, headers=elsewhere.headers)
    await _family(http, office, village="35.75.01.1001")
    theirs = await http.get(url, headers=elsewhere.headers)
    assert theirs.json()["region_code"] == "35.73"
    assert _funnel(theirs.json()) == _funnel(before.json())  # Pasuruan's family is not theirs

    peek = await http.get(
        "/api/v1/reports/verification-funnel?region=35.75", headers=elsewhere.headers
    )
    assert peek.status_code == 404
    # Asking for the province above gives the caller's own region, never more.
    wider = await http.get("/api/v1/reports/verification-funnel?region=35", headers=office.headers)
    assert wider.json()["region_code"] == PASURUAN

    no_scope = await clients(region=PASURUAN, scopes=["kpm:read"])
    refused = await http.get("/api/v1/reports/graduations", headers=no_scope.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"


async def test_graduations_per_facilitator_against_target(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    klaten = await clients(region="33.10")
    made = await http.post(
        "/api/v1/facilitators",
        json={"name": "Sri Wahyuni", "kind": "PKH", "region_code": "33.10.12", "yearly_target": 5},
        headers=klaten.headers,
    )
    facilitator = made.json()["id"]
    for kind in ("mandiri", "mandiri", "alamiah"):
        family = await _family(
            http, klaten, village="33.10.12.2001", programs=["PKH"], facilitator_id=facilitator
        )
        graduated = await http.patch(
            f"/api/v1/kpm/{family}/enrollments/PKH",
            json={"status": "graduated", "graduation_kind": kind, "on_date": "2026-08-17"},
            headers={**klaten.headers, "If-Match": '"1"'},
        )
        assert graduated.status_code == 200, graduated.text

    report = await http.get("/api/v1/reports/graduations?year=2026", headers=klaten.headers)
    (row,) = [r for r in report.json()["rows"] if r["facilitator_id"] == facilitator]
    assert (row["graduated"], row["mandiri"], row["alamiah"], row["verval"]) == (3, 2, 1, 0)
    assert row["yearly_target"] == 5
    assert row["target_reached_pct"] == 60.0

    last_year = await http.get("/api/v1/reports/graduations?year=2025", headers=klaten.headers)
    (row,) = [r for r in last_year.json()["rows"] if r["facilitator_id"] == facilitator]
    assert row["graduated"] == 0


async def test_training_completion_per_cohort(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")
    cohort = await create_cohort(http, office, region="33.28.07")
    members = await people(http, office, 2, village=JATINEGARA_VILLAGE)
    enrolled = [(await enrol(http, office, cohort["id"], m)).json()["id"] for m in members[:4]]
    assert (await move(http, office, cohort["id"], "running")).status_code == 200
    # Four sessions: two people at every one, one at three (75%: completes), one at two.
    attended = {enrolled[0]: 4, enrolled[1]: 4, enrolled[2]: 3, enrolled[3]: 2}
    for index, day in enumerate(cohort["sessions"]):
        present = {person: index < count for person, count in attended.items()}
        assert (await sheet(http, office, cohort["id"], day["id"], present)).status_code == 200

    report = await http.get(
        "/api/v1/reports/training-completion?region=33.28.07", headers=office.headers
    )
    (row,) = [r for r in report.json()["rows"] if r["cohort_id"] == cohort["id"]]
    assert (row["sessions"], row["participants"], row["completed"]) == (4, 4, 3)
    assert row["completion_pct"] == 75.0
    assert row["first_session"] == cohort["sessions"][0]["held_on"]
    assert row["topic"] == "menjahit"


async def test_kube_groups_and_grants_by_status(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")
    url = f"/api/v1/reports/kube?region={JATINEGARA_VILLAGE}"

    def counts(body: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int]]:
        return {(r["record"], r["status"]): (r["count"], r["amount"]) for r in body["rows"]}

    before = counts((await http.get(url, headers=office.headers)).json())
    groups = [await active_group(http, office, village=JATINEGARA_VILLAGE) for _ in range(2)]
    await create_group(
        http, office, await families(http, office, 1, JATINEGARA_VILLAGE),
        village_code=JATINEGARA_VILLAGE,
    )  # fmt: skip
    for group in groups:
        made = await http.post(
            "/api/v1/kube-grants", json=grant_body(group["id"]), headers=office.headers
        )
        assert made.status_code == 201, made.text

    after = counts((await http.get(url, headers=office.headers)).json())
    added = {
        key: (count - before.get(key, (0, 0))[0], amount - before.get(key, (0, 0))[1])
        for key, (count, amount) in after.items()
    }
    assert added[("group", "active")] == (2, 0)
    assert added[("group", "forming")] == (1, 0)
    assert added[("grant", "proposed")] == (2, 40_000_000)

    as_csv = await http.get(url + "&format=csv", headers=office.headers)
    header = as_csv.text.splitlines()[0]
    assert header == "record,status,count,amount"


async def test_budget_realisation_per_allocation(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")
    # A regency budget of its own for a program only this test uses.
    program = program_body(region_code="33.28")
    assert (await http.post("/api/v1/programs", json=program, headers=office.headers)).is_success
    allocation = await new_allocation(http, office, program_code=program["code"], amount=10_000_000)
    families_ = [await _family(http, office, village=JATINEGARA_VILLAGE) for _ in range(3)]
    paid = []
    for family in families_:
        paid.append(await new_disbursement(http, office, allocation["id"], family))
    # One confirmed, one failed (frees its budget), one still scheduled.
    for to in ("sent", "confirmed"):
        moved = await move_disbursement(
            http,
            office,
            paid[0]["id"],
            to,
            **({"external_reference": "BRI-1"} if to == "sent" else {}),
        )
        assert moved.status_code == 200, moved.text
    for to in ("sent", "failed"):
        moved = await move_disbursement(
            http,
            office,
            paid[1]["id"],
            to,
            **({"external_reference": "BRI-2"} if to == "sent" else {}),
        )
        assert moved.status_code == 200, moved.text

    report = await http.get(
        f"/api/v1/reports/budget-realisation?program={program['code']}", headers=office.headers
    )
    (row,) = report.json()["rows"]
    assert row["allocation_id"] == allocation["id"]
    assert (row["amount"], row["committed"], row["confirmed"], row["remaining"]) == (
        10_000_000, 5_000_000, 2_500_000, 5_000_000,
    )  # fmt: skip
    assert (row["absorption_pct"], row["payments_confirmed"]) == (25.0, 1)
    outside = await clients(region="33.29")
    assert (
        await http.get(
            f"/api/v1/reports/budget-realisation?program={program['code']}",
            headers=outside.headers,
        )
    ).json()["rows"] == []
