"""Field stories of the programs, end to end through the HTTP API only, each ending in the report
figures an office would read: graduation and training days, PK3E groups, KUBE grants."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from service.demo.roll import RollMaker
from tests.api.field_office import active_groups


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


async def test_kabupaten_tegal_pk3e_2023(office_of: Any, tmp_path: Path) -> None:
    """A district budget for groups: assessment, training in their trade, business materials
    paid to each group, and the reports that close the year."""
    tegal = await office_of("33.28")
    guci = "33.28.02.2001"
    roll = RollMaker(seed=4)
    await tegal.import_roll([roll.family(guci, ["PK3E"], size=3) for _ in range(15)], tmp_path)
    families = await tegal.all_families()
    groups = await active_groups(tegal, guci, families, "PK3E", 5, "produksi")
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
    groups = await active_groups(tegal, slawi, await tegal.all_families(), "KUBE", 6, "perdagangan")
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
