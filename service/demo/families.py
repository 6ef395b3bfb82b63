"""The stories told by families, visits, facilitators and graduations.

- Mukomuko (17.06): about 5,000 poor families in PKH and BPNT, PKH facilitators and one TKSK per
  kecamatan.
- Kota Pasuruan (35.75): 4,011 listed people (1,337 families of three); field verification
  confirmed 891 people (297 families) as extremely poor.
- Klaten (33.10): PKH families with facilitators whose yearly target is 5 graduations.
"""

from __future__ import annotations

import datetime as dt
import itertools

from schemas.allocations import FundingSource
from schemas.disbursements import Channel, RecipientKind
from schemas.kpm import (
    EnrollmentChange,
    EnrollmentStatus,
    FacilitatorCreate,
    FacilitatorKind,
    GraduationKind,
    VerificationIn,
    VerificationOutcome,
)
from service.demo.budgets import allocate, pay, settle
from service.demo.common import (
    Sessions,
    demo_caller,
    districts_of,
    family_ids,
    import_families,
    villages_of,
)
from service.demo.roll import RollMaker
from service.kpm import enrollment, facilitators, verification
from service.kpm.tables import Facilitator

MUKOMUKO, PASURUAN, KLATEN = "17.06", "35.75", "33.10"

MUKOMUKO_FAMILIES = 5_000
PASURUAN_FAMILIES, PASURUAN_ELIGIBLE = 1_337, 297  # x3 people: 4,011 listed, 891 confirmed
# The other 1,040 visited families, by outcome.
PASURUAN_OTHER_OUTCOMES = {
    VerificationOutcome.ineligible: 900,
    VerificationOutcome.not_found: 80,
    VerificationOutcome.moved: 50,
    VerificationOutcome.deceased: 10,
}
PASURUAN_WITH_BUSINESS, PASURUAN_CAPITAL = 120, 2_500_000
MUKOMUKO_PROPOSALS, MUKOMUKO_CAPITAL = 50, 2_500_000
KLATEN_FACILITATORS, KLATEN_FAMILIES_EACH, KLATEN_TARGET = 10, 30, 5


async def _facilitator(
    sessions: Sessions, name: str, kind: FacilitatorKind, region: str, target: int | None = None
) -> Facilitator:
    async with sessions() as session, session.begin():
        return await facilitators.create_facilitator(
            session,
            demo_caller(),
            FacilitatorCreate(name=name, kind=kind, region_code=region, yearly_target=target),
        )


async def mukomuko(sessions: Sessions, roll: RollMaker) -> None:
    async with sessions() as session:
        villages = await villages_of(session, *await districts_of(session, MUKOMUKO))
        districts = await districts_of(session, MUKOMUKO)
    programs = itertools.cycle([["PKH", "BPNT"]] * 3 + [["PKH"]] + [["BPNT"]])
    await import_families(
        sessions,
        [
            roll.family(villages[n % len(villages)], next(programs), size=3 + n % 2)
            for n in range(MUKOMUKO_FAMILIES)
        ],
    )
    for n in range(12):
        await _facilitator(
            sessions,
            f"Pendamping PKH Mukomuko {n + 1}",
            FacilitatorKind.PKH,
            districts[n % len(districts)],
            target=10,
        )
    for district in districts:
        await _facilitator(sessions, f"TKSK {district}", FacilitatorKind.TKSK, district)
    # Facilitators propose business capital for families: payments scheduled, not yet sent.
    budget = await allocate(sessions, "PK3E", 2026, FundingSource.APBD_KABKOTA, MUKOMUKO,
                            250_000_000)  # fmt: skip
    async with sessions() as session:
        proposed = (await family_ids(session, MUKOMUKO))[:MUKOMUKO_PROPOSALS]
    await pay(
        sessions, budget, [(RecipientKind.kpm, family) for family in proposed],
        amount=MUKOMUKO_CAPITAL, purpose="Usulan modal usaha dari pendamping", period="2026",
    )  # fmt: skip


async def pasuruan(sessions: Sessions, roll: RollMaker) -> None:
    async with sessions() as session:
        villages = await villages_of(session, *await districts_of(session, PASURUAN))
    await import_families(
        sessions,
        [roll.family(villages[n % len(villages)], [], size=3) for n in range(PASURUAN_FAMILIES)],
    )
    verifier = await _facilitator(
        sessions, "Tim Verval Kota Pasuruan", FacilitatorKind.TKSK, PASURUAN
    )
    outcomes = [VerificationOutcome.eligible] * PASURUAN_ELIGIBLE + [
        outcome for outcome, count in PASURUAN_OTHER_OUTCOMES.items() for _ in range(count)
    ]
    async with sessions() as session, session.begin():
        ids = await family_ids(session, PASURUAN)
        eligible = ids[:PASURUAN_ELIGIBLE]
        for n, (family_id, outcome) in enumerate(zip(ids, outcomes, strict=True)):
            visit = VerificationIn(
                visited_on=dt.date(2024, 5, 2) + dt.timedelta(days=n % 60),
                outcome=outcome,
                facilitator_id=verifier.id,
                notes="Verifikasi lapangan kemiskinan ekstrem",
            )
            await verification.record_verification(session, demo_caller(), family_id, visit)
    # Confirmed families that run a business get Rp2.5 million business capital each.
    budget = await allocate(sessions, "PK3E", 2024, FundingSource.APBD_KABKOTA, PASURUAN,
                            PASURUAN_WITH_BUSINESS * PASURUAN_CAPITAL)  # fmt: skip
    payments = await pay(
        sessions, budget,
        [(RecipientKind.kpm, family) for family in eligible[:PASURUAN_WITH_BUSINESS]],
        amount=PASURUAN_CAPITAL, purpose="Modal usaha", period="2024", channel=Channel.pos,
    )  # fmt: skip
    await settle(sessions, payments, "POS-PSR")


async def klaten(sessions: Sessions, roll: RollMaker) -> None:
    async with sessions() as session:
        districts = (await districts_of(session, KLATEN))[:KLATEN_FACILITATORS]
        villages = await villages_of(session, *districts)
    await import_families(
        sessions,
        [
            roll.family(villages[n % len(villages)], ["PKH"], size=4)
            for n in range(KLATEN_FACILITATORS * KLATEN_FAMILIES_EACH)
        ],
    )
    async with sessions() as session:
        ids = await family_ids(session, KLATEN)
    graduated_on = dt.date(dt.date.today().year, 3, 1)
    for n, district in enumerate(districts):
        helper = await _facilitator(
            sessions,
            f"Pendamping PKH Klaten {n + 1}",
            FacilitatorKind.PKH,
            district,
            target=KLATEN_TARGET,
        )
        # Seven of ten reach the target this year; the others are on their way.
        graduates = KLATEN_TARGET if n < 7 else 3
        mine = ids[n * KLATEN_FAMILIES_EACH : n * KLATEN_FAMILIES_EACH + graduates]
        async with sessions() as session, session.begin():
            for family_id in mine:
                await enrollment.change_enrollment(
                    session,
                    demo_caller(),
                    family_id,
                    "PKH",
                    EnrollmentChange(
                        status=EnrollmentStatus.graduated,
                        on_date=graduated_on,
                        graduation_kind=GraduationKind.mandiri,
                        credited_facilitator_id=helper.id,
                        reason="Usaha e-Warung mandiri",
                    ),
                    if_match=1,  # just imported: the enrollment's first version
                )
