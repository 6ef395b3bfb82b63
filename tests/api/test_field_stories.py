"""The field stories of the product brief, end to end through the HTTP API only, each ending in
the report figures an office would read. Each story runs on a database of its own, so the
figures are exact."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from service.database import async_url, create_session_factory
from service.demo.roll import RollMaker, SyntheticFamily, write_import_csv
from service.settings import Settings
from tests.conftest import prepared_database
from tests.factories import ClientFactory, IssuedClient


class Office:
    """An office's system talking to the service: its client and a few conveniences."""

    def __init__(self, http: httpx.AsyncClient, client: IssuedClient) -> None:
        self.http, self.client = http, client

    async def call(
        self, method: str, url: str, expect: int = 200, **kwargs: Any
    ) -> dict[str, Any] | list[Any]:
        headers = {**self.client.headers, **kwargs.pop("headers", {})}
        response = await self.http.request(method, url, headers=headers, **kwargs)
        assert response.status_code == expect, (url, response.text)
        body: dict[str, Any] | list[Any] = response.json()
        return body

    async def get(self, url: str) -> Any:
        return await self.call("GET", url)

    async def post(self, url: str, body: Any, expect: int = 201, **kwargs: Any) -> Any:
        return await self.call("POST", url, expect, json=body, **kwargs)

    async def patch(self, url: str, body: Any, version: int, expect: int = 200) -> Any:
        return await self.call(
            "PATCH", url, expect, json=body, headers={"If-Match": f'"{version}"'}
        )

    async def put(self, url: str, body: Any, expect: int = 200) -> Any:
        return await self.call("PUT", url, expect, json=body)

    async def import_roll(self, families: list[SyntheticFamily], tmp_path: Path) -> dict[str, Any]:
        path = tmp_path / "roll.csv"
        write_import_csv(families, path)
        started = await self.http.post(
            "/api/v1/kpm/imports?format=csv", content=path.read_bytes(), headers=self.client.headers
        )
        assert started.status_code == 202, started.text
        for _ in range(600):
            job: dict[str, Any] = await self.get(started.headers["location"])
            if job["status"] in ("done", "failed"):
                return job
            await asyncio.sleep(0.05)
        raise AssertionError("the import did not finish")

    async def all_families(self, query: str = "") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = await self.get(f"/api/v1/kpm?limit=500{query}{cursor}")
            items += page["items"]
            if page["next_cursor"] is None:
                return items
            cursor = f"&cursor={page['next_cursor']}"

    async def report(self, name: str, query: str) -> list[dict[str, Any]]:
        body = await self.get(f"/api/v1/reports/{name}?{query}")
        rows: list[dict[str, Any]] = body["rows"]
        return rows


@pytest.fixture
async def story_app(server_url: str, settings: Settings) -> AsyncIterator[FastAPI]:
    async with prepared_database(server_url) as url:
        engine = create_async_engine(async_url(url))
        app = create_app(settings.model_copy(update={"database_url": url}), database_url=url)
        app.state.engine = engine
        app.state.sessions = create_session_factory(engine)
        try:
            yield app
        finally:
            await engine.dispose()


@pytest.fixture
async def office_of(story_app: FastAPI) -> AsyncIterator[Any]:
    transport = httpx.ASGITransport(app=story_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://story") as http:

        async def office(region: str | None) -> Office:
            async with story_app.state.sessions() as session:
                client = await ClientFactory(session, story_app.state.token_keys, commit=True)(
                    region=region
                )
            return Office(http, client)

        yield office


def _funnel(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    return {row["step"]: (row["families"], row["people"]) for row in rows}


async def test_kota_pasuruan_verification_cuts_the_list(office_of: Any, tmp_path: Path) -> None:
    """Listed extreme-poor families are visited; the funnel shows who was confirmed."""
    pasuruan = await office_of("35.75")
    roll = RollMaker(seed=1)
    villages = ["35.75.01.1001", "35.75.02.1001", "35.75.03.1001"]
    job = await pasuruan.import_roll(
        [roll.family(villages[n % 3], [], size=3) for n in range(60)], tmp_path
    )
    assert (job["families_created"], job["people_imported"]) == (60, 180)

    outcomes = ["eligible"] * 13 + ["ineligible"] * 40 + ["not_found"] * 4 + ["moved"] * 2
    outcomes += ["deceased"]
    families = await pasuruan.all_families()
    for family, outcome in zip(families, outcomes, strict=True):
        await pasuruan.post(
            f"/api/v1/kpm/{family['id']}/verifications",
            {"visited_on": "2024-06-03", "outcome": outcome, "notes": "Verval ekstrem"},
        )

    funnel = _funnel(await pasuruan.report("verification-funnel", "region=35.75"))
    assert funnel == {
        "listed": (60, 180),
        "unverified": (0, 0),
        "eligible": (13, 39),
        "ineligible": (40, 120),
        "not_found": (4, 12),
        "moved": (2, 6),
        "deceased": (1, 3),
    }
    eligible = await pasuruan.all_families("&verification_status=eligible")
    assert len(eligible) == 13


async def test_kabupaten_klaten_graduation_and_training_days(
    office_of: Any, tmp_path: Path
) -> None:
    """Facilitators graduate PKH families against a target of 5; a training day holds 60."""
    klaten = await office_of("33.10")
    roll = RollMaker(seed=2)
    await klaten.import_roll(
        [roll.family("33.10.12.2001", ["PKH"], size=4) for _ in range(12)], tmp_path
    )
    families = await klaten.all_families()
    helpers = [
        await klaten.post(
            "/api/v1/facilitators",
            {"name": name, "kind": "PKH", "region_code": "33.10.12", "yearly_target": 5},
        )
        for name in ("Sri Wahyuni", "Bambang Sutejo")
    ]
    this_year = dt.date.today().year
    for n, family in enumerate(families[:8]):
        helper = helpers[0] if n < 5 else helpers[1]
        await klaten.patch(
            f"/api/v1/kpm/{family['id']}/enrollments/PKH",
            {
                "status": "graduated",
                "graduation_kind": "mandiri",
                "credited_facilitator_id": helper["id"],
                "on_date": f"{this_year}-03-01",
            },
            version=1,
        )
    graduations = {
        row["name"]: (row["graduated"], row["target_reached_pct"])
        for row in await klaten.report("graduations", f"region=33.10&year={this_year}")
    }
    assert graduations == {"Sri Wahyuni": (5, 100.0), "Bambang Sutejo": (3, 60.0)}

    # One training day of a former kawedanan, capacity held (scaled: 6 seats, not 60).
    cohort = await klaten.post(
        "/api/v1/training-cohorts",
        {
            "name": "Pelatihan e-Warung kawedanan Klaten",
            "program_code": "PKH",
            "topic": "digital",
            "region_code": "33.10",
            "capacity": 6,
            "sessions": [{"held_on": "2026-02-02"}],
        },
    )
    heads = [family["members"][0]["id"] for family in families]
    seated = [
        (await klaten.post(f"/api/v1/training-cohorts/{cohort['id']}/participants",
                           {"member_id": head}))["id"]
        for head in heads[:6]
    ]  # fmt: skip
    full = await klaten.post(
        f"/api/v1/training-cohorts/{cohort['id']}/participants",
        {"member_id": heads[6]},
        expect=409,
    )
    assert full["code"] == "cohort_full"
    await klaten.post(
        f"/api/v1/training-cohorts/{cohort['id']}/transitions", {"to": "running"}, expect=200
    )
    await klaten.put(
        f"/api/v1/training-cohorts/{cohort['id']}/sessions/{cohort['sessions'][0]['id']}"
        "/attendance",
        {"records": [{"participant_id": p, "present": True} for p in seated]},
    )
    (row,) = await klaten.report("training-completion", "region=33.10")
    assert (row["sessions"], row["participants"], row["completed"]) == (1, 6, 6)


async def test_kabupaten_mukomuko_pkh_and_bpnt_roll(office_of: Any, tmp_path: Path) -> None:
    """A roll of PKH and BPNT families with their facilitators; counts per program."""
    mukomuko = await office_of("17.06")
    roll = RollMaker(seed=3)
    programs = [["PKH", "BPNT"]] * 30 + [["PKH"]] * 12 + [["BPNT"]] * 8
    families = [roll.family("17.06.01.2005", p, size=4) for p in programs]
    job = await mukomuko.import_roll(families, tmp_path)
    assert job["families_created"] == 50
    again = await mukomuko.import_roll(families, tmp_path)  # the same roll changes nothing
    assert (again["families_created"], again["families_unchanged"]) == (0, 50)
    for kind, area in (("PKH", "17.06.01"), ("TKSK", "17.06.01")):
        await mukomuko.post(
            "/api/v1/facilitators", {"name": f"{kind} Mukomuko", "kind": kind, "region_code": area}
        )
    helpers = await mukomuko.get("/api/v1/facilitators?region=17.06")
    assert sorted(item["kind"] for item in helpers["items"]) == ["PKH", "TKSK"]
    listed = {
        program: _funnel(
            await mukomuko.report("verification-funnel", f"region=17.06&program={program}")
        )["listed"]
        for program in ("PKH", "BPNT")
    }
    assert listed == {"PKH": (42, 168), "BPNT": (38, 152)}
