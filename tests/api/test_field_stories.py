"""The field stories of the product brief, end to end through the HTTP API only, each ending in
the report figures an office would read. Each story runs on a database of its own, so the
figures are exact."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
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

    async def pay(self, url: str, body: Any, key: str | None = None, expect: int = 201) -> Any:
        """A money-moving POST, with an Idempotency-Key (a fresh one unless retrying)."""
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        return await self.call("POST", url, expect, json=body, headers=headers)

    async def allocation_row(self, allocation_id: str) -> dict[str, Any]:
        rows = await self.report("budget-realisation", "")
        (row,) = [r for r in rows if r["allocation_id"] == allocation_id]
        return row

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
                assert (job["status"], job["families_refused"]) == ("done", 0), job
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

    # Confirmed families with a business get Rp2.5 million capital each, through the post office.
    budget = await pasuruan.post(
        "/api/v1/allocations",
        {"program_code": "PK3E", "fiscal_year": 2024, "funding_source": "APBD_KABKOTA",
         "region_code": "35.75", "amount": 25_000_000},
    )  # fmt: skip
    payments = [
        await pasuruan.pay(
            "/api/v1/disbursements",
            {
                "allocation_id": budget["id"],
                "recipient_kind": "kpm",
                "recipient_id": family["id"],
                "amount": 2_500_000,
                "purpose": "Modal usaha",
                "channel": "pos",
                "period": "2024",
            },
        )  # fmt: skip
        for family in eligible[:8]
    ]
    for n, payment in enumerate(payments):
        await pasuruan.pay(
            f"/api/v1/disbursements/{payment['id']}/transitions",
            {"to": "sent", "note": "Wesel pos", "external_reference": f"POS-{n}"},
            expect=200,
        )
    settled = await pasuruan.http.post(
        "/api/v1/disbursements/reconciliations",
        content="reference,status,amount,date\n"
        + "".join(f"POS-{n},confirmed,2500000,2024-08-01\n" for n in range(7))
        + "POS-7,failed,2500000,2024-08-01\nPOS-99,confirmed,2500000,2024-08-01\n",
        headers={**pasuruan.client.headers, "Idempotency-Key": "pos-settlement-2024-08"},
    )
    result = settled.json()
    assert (result["confirmed"], result["failed"], result["mismatched"]) == (7, 1, 1)
    assert result["mismatches"][0]["code"] == "unknown_reference"
    row = await pasuruan.allocation_row(budget["id"])
    assert (row["committed"], row["confirmed"], row["remaining"]) == (
        17_500_000, 17_500_000, 7_500_000,
    )  # fmt: skip
    assert (row["absorption_pct"], row["payments_confirmed"]) == (70.0, 7)


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


async def _groups(
    office: Office, village: str, families: list[dict[str, Any]], program: str, size: int,
    trade: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """Groups of ``size`` families, formed and activated."""
    groups = []
    for n in range(len(families) // size):
        members = families[n * size : (n + 1) * size]
        group = await office.post(
            "/api/v1/kube",
            {"name": f"Kelompok {program} {n + 1}", "village_code": village,
             "program_code": program, "business_category": trade,
             "members": [{"family_id": f["id"], "role": "ketua" if i == 0 else "anggota"}
                         for i, f in enumerate(members)]},
        )  # fmt: skip
        active = await office.post(
            f"/api/v1/kube/{group['id']}/transitions", {"to": "active"}, expect=200
        )
        groups.append(active)
    return groups


async def test_kabupaten_tegal_pk3e_2023(office_of: Any, tmp_path: Path) -> None:
    """A district budget for groups: assessment, training in their trade, business materials
    paid to each group, and the reports that close the year."""
    tegal = await office_of("33.28")
    guci = "33.28.02.2001"
    roll = RollMaker(seed=4)
    await tegal.import_roll([roll.family(guci, ["PK3E"], size=3) for _ in range(15)], tmp_path)
    families = await tegal.all_families()
    groups = await _groups(tegal, guci, families, "PK3E", 5, "produksi")
    budget = await tegal.post(
        "/api/v1/allocations",
        {"program_code": "PK3E", "fiscal_year": 2023, "funding_source": "APBD_KABKOTA",
         "region_code": "33.28", "amount": 1_600_000_000},
    )  # fmt: skip

    # The assessment team records each ketua's needs; then a sewing training in Oct-Nov.
    cohort = await tegal.post(
        "/api/v1/training-cohorts",
        {"name": "Pelatihan menjahit PK3E Bumijawa 2023", "program_code": "PK3E",
         "topic": "menjahit", "region_code": "33.28.02", "capacity": 20,
         "sessions": [{"held_on": day} for day in ("2023-10-09", "2023-10-23", "2023-11-06",
                                                   "2023-11-20")]},
    )  # fmt: skip
    heads = {f["id"]: f["members"][0]["id"] for f in families}
    seated = []
    for group in groups:
        ketua = next(m for m in group["members"] if m["role"] == "ketua")
        seated.append(
            await tegal.post(
                f"/api/v1/training-cohorts/{cohort['id']}/participants",
                {"member_id": heads[ketua["family_id"]],
                 "assessment": {"needs": "Mesin jahit", "business_potential": "Seragam sekolah"}},
            )
        )  # fmt: skip
    await tegal.post(f"/api/v1/training-cohorts/{cohort['id']}/transitions", {"to": "running"},
                     expect=200)  # fmt: skip
    for index, day in enumerate(cohort["sessions"]):
        # The third ketua missed the last two sessions.
        records = [{"participant_id": p["id"], "present": not (n == 2 and index >= 2)}
                   for n, p in enumerate(seated)]  # fmt: skip
        await tegal.put(
            f"/api/v1/training-cohorts/{cohort['id']}/sessions/{day['id']}/attendance",
            {"records": records},
        )

    # Business materials for every group, in one batch, sent and confirmed by the bank.
    batch = await tegal.pay(
        "/api/v1/disbursements/batches",
        {"items": [{"allocation_id": budget["id"], "recipient_kind": "kube",
                    "recipient_id": g["id"], "amount": 5_000_000,
                    "purpose": "Bahan usaha menjahit", "channel": "bank_transfer",
                    "period": "2023"} for g in groups]},
        expect=200,
    )  # fmt: skip
    assert (batch["created"], batch["amount_created"]) == (3, 15_000_000)
    for n, item in enumerate(batch["items"]):
        for move in ({"to": "sent", "external_reference": f"JTG-{n}"}, {"to": "confirmed"}):
            await tegal.pay(f"/api/v1/disbursements/{item['id']}/transitions",
                            {**move, "note": "Bank Jateng"}, expect=200)  # fmt: skip

    kube = await tegal.report("kube", "region=33.28&program=PK3E")
    assert [(r["record"], r["status"], r["count"]) for r in kube] == [("group", "active", 3)]
    (training,) = await tegal.report("training-completion", "region=33.28")
    assert (training["participants"], training["completed"], training["sessions"]) == (3, 2, 4)
    row = await tegal.allocation_row(budget["id"])
    assert (row["confirmed"], row["remaining"], row["payments_confirmed"]) == (
        15_000_000, 1_585_000_000, 3,
    )  # fmt: skip


async def test_kabupaten_tegal_kube_2026(office_of: Any, tmp_path: Path) -> None:
    """The province allocates KUBE grants to the regency and recommends them; the regency
    approves and pays; the groups report; a retried payment never pays twice."""
    province, tegal = await office_of("33"), await office_of("33.28")
    slawi = "33.28.10.1007"
    roll = RollMaker(seed=5)
    await tegal.import_roll([roll.family(slawi, ["PKH"], size=4) for _ in range(12)], tmp_path)
    groups = await _groups(tegal, slawi, await tegal.all_families(), "KUBE", 6, "perdagangan")
    budget = await province.post(
        "/api/v1/allocations",
        {"program_code": "KUBE", "fiscal_year": 2026, "funding_source": "APBD_PROVINSI",
         "region_code": "33.28", "amount": 180_000_000},
    )  # fmt: skip
    for n, group in enumerate(groups):
        grant = await tegal.post(
            "/api/v1/kube-grants",
            {"group_id": group["id"], "amount": 20_000_000, "allocation_id": budget["id"],
             "purpose": "Modal e-Warung"},
        )  # fmt: skip
        url = f"/api/v1/kube-grants/{grant['id']}"
        refused = await tegal.post(f"{url}/transitions", {"to": "recommended"}, expect=403)
        assert refused["code"] == "province_required"
        await province.post(f"{url}/transitions", {"to": "recommended"}, expect=200)
        await tegal.post(f"{url}/transitions", {"to": "approved"}, expect=200)

        payment_body = {
            "allocation_id": budget["id"], "recipient_kind": "kube", "recipient_id": group["id"],
            "amount": 20_000_000, "purpose": "Bantuan modal KUBE", "channel": "bank_transfer",
            "period": "2026",
        }  # fmt: skip
        key = f"kube-2026-{n}"
        paid = await tegal.pay("/api/v1/disbursements", payment_body, key=key)
        retried = await tegal.pay("/api/v1/disbursements", payment_body, key=key)
        assert retried == paid  # the same answer, not a second payment
        for move in ({"to": "sent", "external_reference": f"KUBE26-{n}"}, {"to": "confirmed"}):
            await tegal.pay(f"/api/v1/disbursements/{paid['id']}/transitions",
                            {**move, "note": "Rekening kelompok"}, expect=200)  # fmt: skip
        await tegal.post(f"{url}/transitions", {"to": "disbursed"}, expect=200)
        await tegal.post(
            f"{url}/reports",
            {"report_date": "2026-09-30", "revenue": 4_200_000, "active_members": 6},
        )
        history = await tegal.get(f"{url}/transitions")
        assert [h["to_status"] for h in history] == [
            "proposed", "recommended", "approved", "disbursed", "reporting",
        ]  # fmt: skip

    kube = await tegal.report("kube", "region=33.28&program=KUBE")
    assert {(r["record"], r["status"]): (r["count"], r["amount"]) for r in kube} == {
        ("group", "active"): (2, 0),
        ("grant", "reporting"): (2, 40_000_000),
    }
    row = await tegal.allocation_row(budget["id"])
    assert (row["committed"], row["confirmed"], row["remaining"], row["absorption_pct"]) == (
        40_000_000, 40_000_000, 140_000_000, 22.2,
    )  # fmt: skip
