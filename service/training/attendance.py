"""Attendance: per participant per session, recorded as a sheet per session. Sending a sheet
again with the same values changes nothing (no new version, no change event)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.training import AttendanceIn, AttendanceSheet
from service.access import Caller
from service.errors import Conflict, ErrorList, NotFound
from service.journal import Write, record_writes
from service.kpm.families import today
from service.records import utcnow
from service.training.cohorts import get_cohort, writable_cohort
from service.training.participants import ENTITY as PARTICIPANT
from service.training.tables import (
    TrainingAttendance,
    TrainingCohort,
    TrainingParticipant,
    TrainingSession,
)

# Attendance is taken while the cohort runs, and late paper sheets after it completed.
RECORDING_STATUSES = frozenset({"running", "completed"})


async def _session_of(
    session: AsyncSession, cohort: TrainingCohort, session_id: uuid.UUID
) -> TrainingSession:
    row = await session.scalar(
        select(TrainingSession).where(
            col(TrainingSession.id) == session_id,
            col(TrainingSession.cohort_id) == cohort.id,
        )
    )
    if row is None:
        raise NotFound.of("training session")
    return row


async def attendance_sheet(
    session: AsyncSession, caller: Caller, cohort_id: uuid.UUID, session_id: uuid.UUID
) -> list[TrainingAttendance]:
    cohort = await get_cohort(session, caller, cohort_id)
    day = await _session_of(session, cohort, session_id)
    return list(
        await session.scalars(
            select(TrainingAttendance)
            .where(col(TrainingAttendance.session_id) == day.id)
            .order_by(col(TrainingAttendance.participant_id))
        )
    )


async def attendance_of(
    session: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[TrainingAttendance]]:
    """The attendance sheets of any number of sessions in one query, each as
    ``attendance_sheet`` orders it. For sessions read through a cohort the caller may see."""
    sheets: dict[uuid.UUID, list[TrainingAttendance]] = defaultdict(list)
    if session_ids:
        for row in await session.scalars(
            select(TrainingAttendance)
            .where(col(TrainingAttendance.session_id).in_(session_ids))
            .order_by(col(TrainingAttendance.session_id), col(TrainingAttendance.participant_id))
        ):
            sheets[row.session_id].append(row)
    return sheets


async def _journal(
    session: AsyncSession,
    caller: Caller,
    cohort: TrainingCohort,
    day: TrainingSession,
    changed: Sequence[AttendanceIn],
    before: Mapping[uuid.UUID, bool],
) -> None:
    """Each participant whose attendance changed takes the next version, in one UPDATE, and
    gets its audit entry and change event, in one COPY each."""
    bumped = await session.execute(
        update(TrainingParticipant)
        .where(col(TrainingParticipant.id).in_([r.participant_id for r in changed]))
        .values(version=col(TrainingParticipant.version) + 1, updated_at=utcnow())
        .returning(col(TrainingParticipant.id), col(TrainingParticipant.version))
        .execution_options(synchronize_session="fetch")
    )
    versions = {participant_id: version for participant_id, version in bumped}
    key = f"attendance.{day.held_on.isoformat()}"
    await record_writes(
        session,
        caller,
        [
            Write(
                action="attendance",
                entity=PARTICIPANT,
                record_id=item.participant_id,
                region_code=cohort.region_code,
                version=versions[item.participant_id],
                changes={key: [before.get(item.participant_id), item.present]},
            )
            for item in changed
        ],
    )


async def record_attendance(
    session: AsyncSession,
    caller: Caller,
    cohort_id: uuid.UUID,
    session_id: uuid.UUID,
    sheet: AttendanceSheet,
) -> list[TrainingAttendance]:
    """Set present/absent for the participants listed; others keep what they had. Each
    participant whose attendance changed gets a new version and a change event, since their
    completion may have changed."""
    cohort = await writable_cohort(session, caller, cohort_id, None)
    if cohort.status not in RECORDING_STATUSES:
        raise Conflict(
            f"Attendance is taken once the cohort runs; this one is {cohort.status}.",
            code="cohort_not_running",
            params={"status": cohort.status},
        )
    day = await _session_of(session, cohort, session_id)
    if day.held_on > today():
        raise Conflict("The session has not taken place yet.", code="session_in_future")
    people = {
        person.id: person
        for person in await session.scalars(
            select(TrainingParticipant)
            .where(
                col(TrainingParticipant.cohort_id) == cohort.id,
                col(TrainingParticipant.id).in_([r.participant_id for r in sheet.records]),
            )
            .with_for_update()
        )
    }
    errors = ErrorList()
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(sheet.records):
        field = f"records.{index}.participant_id"
        if item.participant_id not in people:
            errors.add(field, "unknown_participant", "Not a participant of this cohort.")
        elif item.participant_id in seen:
            errors.add(field, "duplicate_participant", "Listed twice.")
        seen.add(item.participant_id)
    errors.raise_if_any()
    before = {
        participant_id: present
        for participant_id, present in await session.execute(
            select(col(TrainingAttendance.participant_id), col(TrainingAttendance.present))
            .where(col(TrainingAttendance.session_id) == day.id)
            .where(col(TrainingAttendance.participant_id).in_(list(people)))
        )
    }
    changed = [r for r in sheet.records if before.get(r.participant_id) != r.present]
    if changed:
        upsert = insert(TrainingAttendance).values(
            [
                {
                    "participant_id": r.participant_id,
                    "session_id": day.id,
                    "present": r.present,
                    "recorded_by": caller.client_id,
                }
                for r in changed
            ]
        )
        await session.execute(
            upsert.on_conflict_do_update(
                index_elements=["participant_id", "session_id"],
                set_={
                    "present": upsert.excluded.present,
                    "recorded_by": upsert.excluded.recorded_by,
                    "recorded_at": func.now(),
                },
            )
        )
        await _journal(session, caller, cohort, day, changed, before)
    return await attendance_sheet(session, caller, cohort.id, day.id)
