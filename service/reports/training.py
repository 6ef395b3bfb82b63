"""Training completion per cohort: participants, how many completed (attendance at the cohort's
threshold, by the same rule as the participant lists) and how many started a business after."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller, within
from service.reports.envelope import Report, report_region
from service.training.participants import participants_of
from service.training.tables import TrainingCohort, TrainingSession


@dataclass(frozen=True)
class CohortCompletion:
    cohort_id: uuid.UUID
    name: str
    program_code: str
    topic: str
    region_code: str
    status: str
    first_session: dt.date | None
    sessions: int
    capacity: int
    participants: int
    completed: int
    completion_pct: float | None  # None: no participants yet
    started_business: int


async def training_completion(
    session: AsyncSession, caller: Caller, *, region: str | None, program: str | None
) -> Report[CohortCompletion]:
    covered = report_region(caller, region)
    query = select(TrainingCohort).order_by(
        col(TrainingCohort.region_code), col(TrainingCohort.name)
    )
    if covered is not None:
        query = query.where(within(col(TrainingCohort.region_code), covered))
    if program is not None:
        query = query.where(col(TrainingCohort.program_code) == program.upper())
    cohorts = list(await session.scalars(query))
    ids = [cohort.id for cohort in cohorts]
    people = await participants_of(session, ids)
    schedule = {
        cohort_id: (first, count)
        for cohort_id, first, count in await session.execute(
            select(
                col(TrainingSession.cohort_id),
                func.min(col(TrainingSession.held_on)),
                func.count(),
            )
            .where(col(TrainingSession.cohort_id).in_(ids))
            .group_by(col(TrainingSession.cohort_id))
        )
    }
    rows = []
    for cohort in cohorts:
        records = people.get(cohort.id, [])
        completed = sum(1 for record in records if record.completed)
        rows.append(
            CohortCompletion(
                cohort_id=cohort.id,
                name=cohort.name,
                program_code=cohort.program_code,
                topic=cohort.topic,
                region_code=cohort.region_code,
                status=cohort.status,
                first_session=schedule.get(cohort.id, (None, 0))[0],
                sessions=schedule.get(cohort.id, (None, 0))[1],
                capacity=cohort.capacity,
                participants=len(records),
                completed=completed,
                completion_pct=round(100 * completed / len(records), 1) if records else None,
                started_business=sum(
                    1 for record in records if record.participant.started_business
                ),
            )
        )
    return Report(region_code=covered, rows=rows)
