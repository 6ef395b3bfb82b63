"""Participants of a cohort: enrolment within capacity, the pre-training assessment, completion
and the follow-up outcome."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.training import AssessmentIn, OutcomeIn, ParticipantCreate
from service.access import Caller, visible_to
from service.errors import Conflict, FieldError, NotFound, ValidationFailed
from service.journal import Write, apply_update, record_write, record_writes
from service.kpm.tables import Family, Member
from service.regions.codes import contains, regency_of
from service.training.cohorts import ENTITY as COHORT_ENTITY
from service.training.cohorts import (
    OPEN_STATUSES,
    get_cohort,
    participant_counts,
    writable_cohort,
)
from service.training.tables import (
    TrainingAttendance,
    TrainingCohort,
    TrainingParticipant,
    TrainingSession,
)
from service.training.views import ParticipantRecord

ENTITY = "training_participant"
NOT_FOUND = "training participant"
# Free text about a person's situation: the audit trail says it changed, not what it says.
ASSESSMENT_FIELDS = ("needs", "business_potential", "assessment_notes")


# --- reading ---------------------------------------------------------------------------------


async def participants_of(
    session: AsyncSession, cohort_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ParticipantRecord]]:
    """Participants of any number of cohorts with their completion: four queries in all."""
    records: dict[uuid.UUID, list[ParticipantRecord]] = defaultdict(list)
    if not cohort_ids:
        return records
    thresholds = {
        cohort_id: threshold
        for cohort_id, threshold in await session.execute(
            select(col(TrainingCohort.id), col(TrainingCohort.completion_threshold)).where(
                col(TrainingCohort.id).in_(cohort_ids)
            )
        )
    }
    totals = {
        cohort_id: count
        for cohort_id, count in await session.execute(
            select(col(TrainingSession.cohort_id), func.count())
            .where(col(TrainingSession.cohort_id).in_(cohort_ids))
            .group_by(col(TrainingSession.cohort_id))
        )
    }
    attended = {
        participant_id: count
        for participant_id, count in await session.execute(
            select(col(TrainingAttendance.participant_id), func.count())
            .join(
                TrainingParticipant,
                col(TrainingParticipant.id) == TrainingAttendance.participant_id,
            )
            .where(
                col(TrainingParticipant.cohort_id).in_(cohort_ids),
                col(TrainingAttendance.present),
            )
            .group_by(col(TrainingAttendance.participant_id))
        )
    }
    for person in await session.scalars(
        select(TrainingParticipant)
        .where(col(TrainingParticipant.cohort_id).in_(cohort_ids))
        .order_by(col(TrainingParticipant.created_at), col(TrainingParticipant.id))
    ):
        records[person.cohort_id].append(
            ParticipantRecord(
                person,
                attended.get(person.id, 0),
                totals.get(person.cohort_id, 0),
                thresholds[person.cohort_id],
            )
        )
    return records


async def list_participants(
    session: AsyncSession, caller: Caller, cohort_id: uuid.UUID
) -> list[ParticipantRecord]:
    cohort = await get_cohort(session, caller, cohort_id)
    return (await participants_of(session, [cohort.id]))[cohort.id]


async def _record(session: AsyncSession, person: TrainingParticipant) -> ParticipantRecord:
    return next(
        r
        for r in (await participants_of(session, [person.cohort_id]))[person.cohort_id]
        if r.participant.id == person.id
    )


async def _participant(
    session: AsyncSession, cohort: TrainingCohort, participant_id: uuid.UUID
) -> TrainingParticipant:
    person = await session.scalar(
        select(TrainingParticipant)
        .where(
            col(TrainingParticipant.id) == participant_id,
            col(TrainingParticipant.cohort_id) == cohort.id,
        )
        .with_for_update()
    )
    if person is None:
        raise NotFound.of(NOT_FOUND)
    return person


# --- writing ---------------------------------------------------------------------------------


async def _person(
    session: AsyncSession, caller: Caller, cohort: TrainingCohort, member_id: uuid.UUID
) -> tuple[Member, Family]:
    """The member must belong to a live family the caller can see, in the cohort's regency
    (or its province, for a provincial training): trainings are run by the office that keeps
    the families' registry, like KUBE groups."""
    found = (
        await session.execute(
            select(Member, Family)
            .join(Family, col(Family.id) == Member.family_id)
            .where(
                col(Member.id) == member_id,
                visible_to(caller, col(Family.village_code), national_rows_visible=False),
            )
        )
    ).first()
    if found is None or not found[0].live:
        raise ValidationFailed(
            errors=[FieldError("member_id", "unknown_member", "No family member with that id.")]
        )
    member, family = found
    area = regency_of(cohort.region_code)
    if not contains(area, family.village_code):
        raise ValidationFailed(
            errors=[
                FieldError(
                    "member_id",
                    "outside_cohort_region",
                    f"The person's family lies outside {area}, where the cohort is held.",
                )
            ]
        )
    return member, family


def _already_enrolled() -> Conflict:
    return Conflict("The person is already in this cohort.", code="already_enrolled")


async def enrol(
    session: AsyncSession, caller: Caller, cohort_id: uuid.UUID, data: ParticipantCreate
) -> ParticipantRecord:
    """Enrol a person. The cohort row stays locked (``FOR UPDATE``) from the count to the
    insert, so parallel enrolments queue and the capacity holds: the one past it gets 409
    ``cohort_full``."""
    cohort = await writable_cohort(session, caller, cohort_id, None)
    if cohort.status not in OPEN_STATUSES:
        raise Conflict(
            f"A {cohort.status} cohort takes no participants.",
            code="cohort_closed",
            params={"status": cohort.status},
        )
    member, family = await _person(session, caller, cohort, data.member_id)
    taken = await session.scalar(
        select(col(TrainingParticipant.id)).where(
            col(TrainingParticipant.cohort_id) == cohort.id,
            col(TrainingParticipant.member_id) == member.id,
        )
    )
    if taken is not None:
        raise _already_enrolled()
    enrolled = (await participant_counts(session, [cohort.id])).get(cohort.id, 0)
    if enrolled >= cohort.capacity:
        raise Conflict(
            f"The cohort is full ({cohort.capacity} places).",
            code="cohort_full",
            params={"capacity": cohort.capacity},
        )
    assessment = data.assessment or AssessmentIn()
    person = TrainingParticipant(
        cohort_id=cohort.id,
        member_id=member.id,
        family_id=family.id,
        name=member.name,
        needs=assessment.needs,
        business_potential=assessment.business_potential,
        assessment_notes=assessment.notes,
    )
    session.add(person)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise _already_enrolled() from None
    await record_write(
        session,
        caller,
        action="create",
        entity=ENTITY,
        record_id=person.id,
        region_code=cohort.region_code,
        version=person.version,
        changes={
            "cohort_id": [None, str(cohort.id)],
            "member_id": [None, str(member.id)],
            "assessment": [None, "***" if data.assessment else None],
        },
    )
    await _publish_count(session, caller, cohort, added=1)
    return await _record(session, person)


async def withdraw(
    session: AsyncSession, caller: Caller, cohort_id: uuid.UUID, participant_id: uuid.UUID
) -> None:
    """Free a place before the training starts; afterwards the attendance record stays."""
    cohort = await writable_cohort(session, caller, cohort_id, None)
    person = await _participant(session, cohort, participant_id)
    if cohort.status != "planned":
        raise Conflict("Participants leave only before the cohort starts.", code="cohort_started")
    await session.delete(person)
    await session.flush()
    await record_write(
        session,
        caller,
        action="delete",
        entity=ENTITY,
        record_id=person.id,
        region_code=cohort.region_code,
        version=person.version,
        changes={"cohort_id": [str(cohort.id), None]},
    )
    await _publish_count(session, caller, cohort, added=-1)


async def _publish_count(
    session: AsyncSession, caller: Caller, cohort: TrainingCohort, *, added: int
) -> None:
    """The cohort's participant count moved without a change of the cohort itself (its version
    stays): the feed carries the cohort as it stands, so a copy of it stays current. The
    participant's own write is the audited one."""
    count = (await participant_counts(session, [cohort.id])).get(cohort.id, 0)
    change = Write(
        action="update",
        entity=COHORT_ENTITY,
        record_id=cohort.id,
        region_code=cohort.region_code,
        version=cohort.version,
        changes={"participant_count": [count - added, count]},
        audited=False,
    )
    await record_writes(session, caller, [change])


async def _write_participant(
    session: AsyncSession,
    caller: Caller,
    cohort: TrainingCohort,
    person: TrainingParticipant,
    changes: dict[str, object],
    personal: Sequence[str] = (),
) -> ParticipantRecord:
    await apply_update(
        session,
        caller,
        person,
        changes,
        snapshot=lambda changed: {name: getattr(changed, name) for name in changes},
        entity=ENTITY,
        region_of=lambda _: cohort.region_code,
        personal=personal,
    )
    return await _record(session, person)


async def set_assessment(
    session: AsyncSession,
    caller: Caller,
    cohort_id: uuid.UUID,
    participant_id: uuid.UUID,
    data: AssessmentIn,
) -> ParticipantRecord:
    """Replace the pre-training assessment (until the cohort ends)."""
    cohort = await writable_cohort(session, caller, cohort_id, None)
    person = await _participant(session, cohort, participant_id)
    if cohort.status not in OPEN_STATUSES:
        raise Conflict("The cohort has ended.", code="cohort_closed")
    changes: dict[str, object] = {
        "needs": data.needs,
        "business_potential": data.business_potential,
        "assessment_notes": data.notes,
    }
    return await _write_participant(session, caller, cohort, person, changes, ASSESSMENT_FIELDS)


async def set_outcome(
    session: AsyncSession,
    caller: Caller,
    cohort_id: uuid.UUID,
    participant_id: uuid.UUID,
    data: OutcomeIn,
) -> ParticipantRecord:
    """Record the follow-up: did the person start a business after the training, and which.
    Only for a completed cohort; sending it again replaces it."""
    cohort = await writable_cohort(session, caller, cohort_id, None)
    person = await _participant(session, cohort, participant_id)
    if cohort.status != "completed":
        raise Conflict("Outcomes follow a completed cohort.", code="cohort_not_completed")
    if data.started_business and not data.business_kind:
        raise ValidationFailed(
            errors=[FieldError("business_kind", "required", "Say which business was started.")]
        )
    if not data.started_business and data.business_kind:
        raise ValidationFailed(
            errors=[FieldError("business_kind", "not_allowed", "No business was started.")]
        )
    changes: dict[str, object] = {
        "started_business": data.started_business,
        "business_kind": data.business_kind,
    }
    return await _write_participant(session, caller, cohort, person, changes)
