"""`dinsos demo` loads the field stories once, and the reports show their real numbers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from api.app import create_app
from cli.main import app as cli
from service.database import async_url, create_session_factory
from service.settings import Settings, get_settings
from tests.conftest import prepared_database
from tests.factories import ClientFactory


@pytest.fixture
async def demo_database(
    server_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    # A database of its own: the demo commits, and its numbers must be exact.
    async with prepared_database(server_url) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


@pytest.fixture
async def demo_http(demo_database: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=demo_database, data_dir=tmp_path, jwt_key="k" * 40)
    application = create_app(settings, database_url=demo_database)
    engine = create_async_engine(async_url(demo_database))
    application.state.engine = engine
    application.state.sessions = create_session_factory(engine)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        national = ClientFactory(
            create_session_factory(engine)(), application.state.token_keys, commit=True
        )
        client.headers.update((await national()).headers)
        yield client
    await engine.dispose()


async def _demo_command() -> str:
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["demo"])
    assert result.exit_code == 0, result.output
    return result.stdout


def _funnel(body: dict[str, list[dict[str, int | str]]]) -> dict[object, tuple[object, object]]:
    return {row["step"]: (row["families"], row["people"]) for row in body["rows"]}


async def test_demo_tells_the_stories_in_numbers(
    demo_database: str, demo_http: httpx.AsyncClient
) -> None:
    output = await _demo_command()
    assert "Kota Pasuruan" in output

    pasuruan = await demo_http.get("/api/v1/reports/verification-funnel?region=35.75")
    funnel = _funnel(pasuruan.json())
    assert funnel["listed"] == (1337, 4011)
    assert funnel["eligible"] == (297, 891)
    assert funnel["unverified"] == (0, 0)

    mukomuko = await demo_http.get("/api/v1/reports/verification-funnel?region=17.06")
    assert _funnel(mukomuko.json())["listed"][0] == 5000
    for program, families in (("PKH", 4000), ("BPNT", 4000)):
        report = await demo_http.get(
            f"/api/v1/reports/verification-funnel?region=17.06&program={program}"
        )
        assert _funnel(report.json())["listed"][0] == families

    klaten = (await demo_http.get("/api/v1/reports/graduations?region=33.10")).json()["rows"]
    assert len(klaten) == 10
    assert sorted(row["graduated"] for row in klaten) == [3, 3, 3] + [5] * 7
    assert all(row["yearly_target"] == 5 for row in klaten)

    # Tegal PK3E 2023: 298 active groups in 25 villages of 5 districts, and their trainings.
    pk3e = (await demo_http.get("/api/v1/reports/kube?region=33.28&program=PK3E")).json()
    assert {(r["record"], r["status"]): r["count"] for r in pk3e["rows"]} == {
        ("group", "active"): 298
    }
    listed = (await demo_http.get("/api/v1/kube?program=PK3E&limit=500")).json()["items"]
    villages = {group["village_code"] for group in listed}
    assert len(listed) == 298
    assert len(villages) == 25
    assert {v[:8] for v in villages} == {"33.28.02", "33.28.03", "33.28.04", "33.28.06", "33.28.07"}
    trainings = (
        await demo_http.get("/api/v1/reports/training-completion?region=33.28&program=PK3E")
    ).json()["rows"]
    assert len(trainings) == 15
    assert {row["topic"] for row in trainings} == {"menjahit", "tata_boga", "beternak"}
    assert all(row["first_session"].startswith("2023-10") for row in trainings)
    assert sum(row["participants"] for row in trainings) == 298
    assert 0 < sum(row["completed"] for row in trainings) < 298

    # Klaten: five training days of at most 60, everyone attended.
    klaten_days = (await demo_http.get("/api/v1/reports/training-completion?region=33.10")).json()[
        "rows"
    ]
    assert [(r["sessions"], r["participants"], r["completed"]) for r in klaten_days] == [
        (1, 60, 60)
    ] * 5

    # Tegal KUBE 2026: nine grants of Rp20 million; six paid and reporting, three approved.
    kube = (await demo_http.get("/api/v1/reports/kube?region=33.28&program=KUBE")).json()
    grants = {
        r["status"]: (r["count"], r["amount"]) for r in kube["rows"] if r["record"] == "grant"
    }
    assert grants == {"reporting": (6, 120_000_000), "approved": (3, 60_000_000)}

    # The money: every allocation's realisation.
    budget = (await demo_http.get("/api/v1/reports/budget-realisation")).json()["rows"]
    realisation = {
        (r["region_code"], r["program_code"], r["fiscal_year"], r["funding_source"]): (
            r["amount"], r["committed"], r["confirmed"], r["absorption_pct"],
            r["payments_confirmed"],
        )
        for r in budget
    }  # fmt: skip
    assert realisation == {
        ("33.28", "PK3E", 2023, "APBD_KABKOTA"): (1_600_000_000, 1_490_000_000, 1_490_000_000,
                                                  93.1, 298),
        ("33.28", "PK3E", 2024, "APBD_KABKOTA"): (600_000_000, 0, 0, 0.0, 0),
        ("33.28", "KUBE", 2026, "APBD_PROVINSI"): (180_000_000, 120_000_000, 120_000_000,
                                                   66.7, 6),
        ("35.75", "PK3E", 2024, "APBD_KABKOTA"): (300_000_000, 300_000_000, 300_000_000,
                                                  100.0, 120),
        ("17.06", "PK3E", 2026, "APBD_KABKOTA"): (250_000_000, 125_000_000, 0, 0.0, 0),
    }  # fmt: skip

    again = await _demo_command()
    assert "already loaded" in again
    recount = await demo_http.get("/api/v1/reports/verification-funnel?region=35.75")
    assert _funnel(recount.json())["listed"] == (1337, 4011)
