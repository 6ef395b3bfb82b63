"""How cohorts and participants leave the service: one presenter for REST and GraphQL, so
completion is computed the same way through both doors."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.training import AssessmentIn, CohortOut, OutcomeIn, ParticipantOut, SessionOut
from service.training.tables import TrainingCohort, TrainingParticipant, TrainingSession


@dataclass
class CohortRecord:
    cohort: TrainingCohort
    sessions: list[TrainingSession]
    participant_count: int


@dataclass
class ParticipantRecord:
    participant: TrainingParticipant
    attended: int
    total: int
    threshold: int

    @property
    def completed(self) -> bool:
        # Integer arithmetic: 3 of 4 sessions is exactly 75%, with no rounding in the way.
        return self.total > 0 and self.attended * 100 >= self.threshold * self.total

    @property
    def attendance_pct(self) -> float:
        return round(100 * self.attended / self.total, 1) if self.total else 0.0


def present_cohort(record: CohortRecord) -> CohortOut:
    cohort = record.cohort
    return CohortOut(
        id=cohort.id,
        created_at=cohort.created_at,
        updated_at=cohort.updated_at,
        version=cohort.version,
        name=cohort.name,
        program_code=cohort.program_code,
        topic=cohort.topic,
        region_code=cohort.region_code,
        venue=cohort.venue,
        capacity=cohort.capacity,
        participant_count=record.participant_count,
        facilitator_id=cohort.facilitator_id,
        trainer_name=cohort.trainer_name,
        status=cohort.status,
        completion_threshold=cohort.completion_threshold,
        sessions=[SessionOut.model_validate(session) for session in record.sessions],
    )


def present_participant(record: ParticipantRecord) -> ParticipantOut:
    person = record.participant
    assessed = any(
        value is not None
        for value in (person.needs, person.business_potential, person.assessment_notes)
    )
    return ParticipantOut(
        id=person.id,
        created_at=person.created_at,
        updated_at=person.updated_at,
        version=person.version,
        cohort_id=person.cohort_id,
        member_id=person.member_id,
        family_id=person.family_id,
        name=person.name,
        assessment=AssessmentIn(
            needs=person.needs,
            business_potential=person.business_potential,
            notes=person.assessment_notes,
        )
        if assessed
        else None,
        attended=record.attended,
        total=record.total,
        attendance_pct=record.attendance_pct,
        completed=record.completed,
        outcome=OutcomeIn(
            started_business=person.started_business, business_kind=person.business_kind
        )
        if person.started_business is not None
        else None,
    )
