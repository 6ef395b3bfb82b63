"""The verification funnel (verval): how many listed families and people were visited, and with
what outcome. Kota Pasuruan's story in numbers: 4,011 listed people, 891 confirmed eligible."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller, within
from service.kpm.tables import Enrollment, Family, Member
from service.reports.envelope import Report, report_region

# The funnel's steps, in the order a reader expects them.
STEPS = ("listed", "unverified", "eligible", "ineligible", "not_found", "moved", "deceased")


@dataclass(frozen=True)
class FunnelStep:
    step: str
    families: int
    people: int


async def verification_funnel(
    session: AsyncSession, caller: Caller, *, region: str | None, program: str | None
) -> Report[FunnelStep]:
    covered = report_region(caller, region)
    people = (
        select(func.count())
        .where(col(Member.family_id) == col(Family.id), col(Member.live))
        .scalar_subquery()
    )
    query = select(
        col(Family.verification_status), func.count(), func.coalesce(func.sum(people), 0)
    ).where(col(Family.archived_at).is_(None))
    if covered is not None:
        query = query.where(within(col(Family.village_code), covered))
    if program is not None:
        query = query.where(
            col(Family.id).in_(
                select(col(Enrollment.family_id)).where(col(Enrollment.program_code) == program)
            )
        )
    counts = {
        status or "unverified": (int(families), int(persons))
        for status, families, persons in await session.execute(
            query.group_by(col(Family.verification_status))
        )
    }
    listed = (sum(f for f, _ in counts.values()), sum(p for _, p in counts.values()))
    rows = [FunnelStep("listed", *listed)] + [
        FunnelStep(step, *counts.get(step, (0, 0))) for step in STEPS[1:]
    ]
    return Report(region_code=covered, rows=rows)
