"""Field stories of the family roll, end to end through the HTTP API only, each ending in the
report figures an office would read: verification cuts the list, a PKH and BPNT roll."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.demo.roll import RollMaker
from tests.api.field_office import funnel_of


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

    funnel = funnel_of(await pasuruan.report("verification-funnel", "region=35.75"))
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
        program: funnel_of(
            await mukomuko.report("verification-funnel", f"region=17.06&program={program}")
        )["listed"]
        for program in ("PKH", "BPNT")
    }
    assert listed == {"PKH": (42, 168), "BPNT": (38, 152)}
