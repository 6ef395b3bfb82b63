"""The stories told by groups and trainings.

- Kabupaten Tegal, PK3E 2023: 298 beneficiary groups in 25 villages of 5 districts (Bumijawa,
  Bojong, Balapulang, Lebaksiu, Jatinegara); trainings in sewing, catering and livestock in
  October and November; each group's ketua attends the training of its trade.
- Kabupaten Klaten: 5 training days, one per former kawedanan, of at most 60 PKH families each.
- Kabupaten Tegal, KUBE 2026: 9 KUBE grants of Rp20 million, recommended by the province,
  approved, paid, and reporting on their business.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

from sqlalchemy import select
from sqlmodel import col

from schemas.allocations import FundingSource
from schemas.disbursements import RecipientKind
from schemas.kube import (
    BusinessCategory,
    GrantCreate,
    GrantReportIn,
    GrantStatus,
    GrantTransitionIn,
    KubeGroupCreate,
    KubeMemberIn,
    KubeRole,
    KubeStatus,
    KubeTransitionIn,
)
from schemas.training import (
    AttendanceIn,
    AttendanceSheet,
    CohortCreate,
    CohortStatus,
    CohortTransitionIn,
    OutcomeIn,
    ParticipantCreate,
    SessionIn,
    TrainingTopic,
)
from service.demo.budgets import allocate, pay, settle
from service.demo.common import Sessions, demo_caller, family_ids, import_families, villages_of
from service.demo.families import KLATEN
from service.demo.roll import RollMaker
from service.kpm.tables import Member
from service.kube import grants, groups, reports
from service.kube.tables import KubeGrant
from service.training import attendance, cohorts, participants

TEGAL = "33.28"
TEGAL_PK3E_DISTRICTS = {
    "33.28.02": "Bumijawa",
    "33.28.03": "Bojong",
    "33.28.04": "Balapulang",
    "33.28.06": "Lebaksiu",
    "33.28.07": "Jatinegara",
}
PK3E_GROUPS, PK3E_GROUP_SIZE, PK3E_VILLAGES_PER_DISTRICT = 298, 5, 5
PK3E_BUDGET_2023, PK3E_BUDGET_2024 = 1_600_000_000, 600_000_000
PK3E_MATERIALS_PER_GROUP = 5_000_000  # 298 groups: Rp1.49 billion; the rest paid the trainings
# The trade of a group and the training that serves it.
PK3E_TRADES = {
    BusinessCategory.produksi: TrainingTopic.menjahit,
    BusinessCategory.kuliner: TrainingTopic.tata_boga,
    BusinessCategory.peternakan: TrainingTopic.beternak,
}
PK3E_SESSIONS = [dt.date(2023, 10, 9), dt.date(2023, 10, 23), dt.date(2023, 11, 6),
                 dt.date(2023, 11, 20)]  # fmt: skip

KLATEN_DAYS = [dt.date(2026, 2, 2) + dt.timedelta(days=n) for n in range(5)]
KLATEN_DAY_CAPACITY = 60

KUBE_2026_GRANTS, KUBE_2026_AMOUNT, KUBE_2026_SIZE, KUBE_2026_PAID = 9, 20_000_000, 6, 6
KUBE_2026_VILLAGE = "33.28.10.1007"  # Kagok, Slawi: the regency's seat


async def _heads(sessions: Sessions, family_id_list: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Family -> its head's member id."""
    async with sessions() as session:
        rows = await session.execute(
            select(col(Member.family_id), col(Member.id)).where(
                col(Member.family_id).in_(family_id_list),
                col(Member.relationship) == "KEPALA_KELUARGA",
            )
        )
        return dict(rows.all())


async def _group(
    sessions: Sessions, name: str, village: str, program: str, trade: BusinessCategory,
    members: list[uuid.UUID],
) -> uuid.UUID:  # fmt: skip
    body = KubeGroupCreate(
        name=name,
        village_code=village,
        program_code=program,
        business_category=trade,
        members=[
            KubeMemberIn(family_id=family, role=KubeRole.ketua if n == 0 else KubeRole.anggota)
            for n, family in enumerate(members)
        ],
    )
    async with sessions() as session, session.begin():
        record = await groups.create_group(session, demo_caller(), body)
        await groups.change_status(
            session, demo_caller(), record.group.id, KubeTransitionIn(to=KubeStatus.active),
            if_match=None,
        )  # fmt: skip
        return record.group.id


async def _training(
    sessions: Sessions,
    create: CohortCreate,
    people: list[uuid.UUID],
    attended: dict[int, int],
    started_business: set[int],
) -> None:
    """A cohort run from start to end: enrolment, attendance per session (participant ``n``
    attends ``attended.get(n, all)`` sessions), completion and the follow-up."""
    caller = demo_caller()
    async with sessions() as session, session.begin():
        cohort = await cohorts.create_cohort(session, caller, create)
        cohort_id = cohort.cohort.id
        enrolled = [
            (
                await participants.enrol(session, caller, cohort_id, ParticipantCreate(member_id=m))
            ).participant.id
            for m in people
        ]
        await cohorts.change_status(
            session, caller, cohort_id, CohortTransitionIn(to=CohortStatus.running)
        )
        for index, day in enumerate(cohort.sessions):
            sheet = AttendanceSheet(
                records=[
                    AttendanceIn(participant_id=p, present=index < attended.get(n, len(people)))
                    for n, p in enumerate(enrolled)
                ]
            )
            await attendance.record_attendance(session, caller, cohort_id, day.id, sheet)
        await cohorts.change_status(
            session, caller, cohort_id, CohortTransitionIn(to=CohortStatus.completed)
        )
        for n, participant_id in enumerate(enrolled):
            kind = create.topic.value.replace("_", " ") if n in started_business else None
            outcome = OutcomeIn(started_business=kind is not None, business_kind=kind)
            await participants.set_outcome(session, caller, cohort_id, participant_id, outcome)


async def tegal_pk3e(sessions: Sessions, roll: RollMaker) -> None:
    async with sessions() as session:
        villages = {
            district: (await villages_of(session, district))[:PK3E_VILLAGES_PER_DISTRICT]
            for district in TEGAL_PK3E_DISTRICTS
        }
    places = [v for district in TEGAL_PK3E_DISTRICTS for v in villages[district]]
    await import_families(
        sessions,
        [
            roll.family(places[(n // PK3E_GROUP_SIZE) % len(places)], ["PK3E"], size=3)
            for n in range(PK3E_GROUPS * PK3E_GROUP_SIZE)
        ],
    )
    async with sessions() as session:
        by_village = {place: await family_ids(session, place) for place in places}
    trades = itertools.cycle(PK3E_TRADES)
    group_ids: list[uuid.UUID] = []
    ketua: dict[tuple[str, BusinessCategory], list[uuid.UUID]] = {}
    for n in range(PK3E_GROUPS):
        village = places[n % len(places)]
        members, by_village[village] = (
            by_village[village][:PK3E_GROUP_SIZE],
            by_village[village][PK3E_GROUP_SIZE:],
        )
        trade = next(trades)
        group_ids.append(
            await _group(
                sessions, f"Kelompok PK3E {village} {n + 1}", village, "PK3E", trade, members
            )
        )
        ketua.setdefault((village[:8], trade), []).append(members[0])
    for district, name in TEGAL_PK3E_DISTRICTS.items():
        for trade, topic in PK3E_TRADES.items():
            families = ketua.get((district, trade), [])
            heads = await _heads(sessions, families)
            people = [heads[f] for f in families]
            create = CohortCreate(
                name=f"Pelatihan {topic.value.replace('_', ' ')} PK3E {name} 2023",
                program_code="PK3E",
                topic=topic,
                region_code=district,
                venue=f"Balai Kecamatan {name}",
                capacity=max(len(people), 1),
                trainer_name="Dinas Sosial Kabupaten Tegal",
                sessions=[SessionIn(held_on=day) for day in PK3E_SESSIONS],
            )
            # Every seventh participant missed two sessions; three in four started a business.
            await _training(
                sessions, create, people,
                attended={n: 2 for n in range(0, len(people), 7)},
                started_business={n for n in range(len(people)) if n % 4},
            )  # fmt: skip
    # Rp1.6 billion from the regency's budget: business materials for every group, paid and
    # confirmed; the program continues in 2024 with Rp600 million.
    budget = await allocate(sessions, "PK3E", 2023, FundingSource.APBD_KABKOTA, TEGAL,
                            PK3E_BUDGET_2023)  # fmt: skip
    payments = await pay(
        sessions, budget, [(RecipientKind.kube, group) for group in group_ids],
        amount=PK3E_MATERIALS_PER_GROUP, purpose="Bahan usaha PK3E", period="2023",
    )  # fmt: skip
    await settle(sessions, payments, "PK3E2023")
    await allocate(sessions, "PK3E", 2024, FundingSource.APBD_KABKOTA, TEGAL, PK3E_BUDGET_2024)


async def klaten_trainings(sessions: Sessions, roll: RollMaker) -> None:
    async with sessions() as session:
        families = await family_ids(session, KLATEN)
    heads = await _heads(sessions, families)
    people = [heads[f] for f in families]
    for day_number, day in enumerate(KLATEN_DAYS):
        group = people[day_number * KLATEN_DAY_CAPACITY : (day_number + 1) * KLATEN_DAY_CAPACITY]
        create = CohortCreate(
            name=f"Pelatihan pengelolaan e-Warung dan KUBE PKH, kawedanan {day_number + 1}",
            program_code="PKH",
            topic=TrainingTopic.digital,
            region_code=KLATEN,
            venue=f"Pendopo kawedanan {day_number + 1}",
            capacity=KLATEN_DAY_CAPACITY,
            trainer_name="Dinas Sosial Kabupaten Klaten",
            sessions=[SessionIn(held_on=day)],
        )
        await _training(sessions, create, group, attended={}, started_business=set())


async def tegal_kube_2026(sessions: Sessions, roll: RollMaker) -> None:
    """Nine groups with a grant each, recommended and approved; six were paid and report on
    their business, three wait for payment."""
    await import_families(
        sessions,
        [roll.family(KUBE_2026_VILLAGE, ["PKH"], size=4)
         for _ in range(KUBE_2026_GRANTS * KUBE_2026_SIZE)],
    )  # fmt: skip
    async with sessions() as session:
        families = await family_ids(session, KUBE_2026_VILLAGE)
    caller = demo_caller()
    # The province allocates the nine grants to the regency from its own budget (APBD I).
    budget = await allocate(sessions, "KUBE", 2026, FundingSource.APBD_PROVINSI, TEGAL,
                            KUBE_2026_GRANTS * KUBE_2026_AMOUNT)  # fmt: skip
    for n in range(KUBE_2026_GRANTS):
        members = families[n * KUBE_2026_SIZE : (n + 1) * KUBE_2026_SIZE]
        group_id = await _group(
            sessions, f"KUBE Slawi Mandiri {n + 1}", KUBE_2026_VILLAGE, "KUBE",
            BusinessCategory.perdagangan, members,
        )  # fmt: skip
        paid = n < KUBE_2026_PAID
        if paid:  # paid to the group's account, confirmed by the bank
            payment = await pay(
                sessions, budget, [(RecipientKind.kube, group_id)], amount=KUBE_2026_AMOUNT,
                purpose="Bantuan modal KUBE", period="2026",
            )  # fmt: skip
            await settle(sessions, payment, f"KUBE2026-{n + 1}")
        steps = [GrantStatus.recommended, GrantStatus.approved]
        steps += [GrantStatus.disbursed] if paid else []
        async with sessions() as session, session.begin():
            grant: KubeGrant = await grants.create_grant(
                session, caller,
                GrantCreate(group_id=group_id, amount=KUBE_2026_AMOUNT, allocation_id=budget,
                            purpose="Modal e-Warung"),
            )  # fmt: skip
            for status in steps:
                await grants.transition_grant(
                    session, caller, grant.id, GrantTransitionIn(to=status, note="Demo 2026")
                )
            if paid:
                report = GrantReportIn(
                    report_date=dt.date(2026, 9, 30),
                    revenue=3_500_000 + 250_000 * n,
                    active_members=KUBE_2026_SIZE,
                    notes="Laporan perkembangan usaha triwulan III",
                )
                await reports.add_report(session, caller, grant.id, report)
