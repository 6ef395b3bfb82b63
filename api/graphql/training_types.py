"""GraphQL types of training cohorts. Sessions, participants (with their completion) and the
head count are resolved through the request's DataLoaders."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from service.training.tables import TrainingAttendance as AttendanceRow
from service.training.tables import TrainingCohort as CohortRow
from service.training.tables import TrainingSession as SessionRow
from service.training.views import ParticipantRecord, present_participant

GqlInfo = Info[GraphQLContext, None]


@strawberry.type(description="A participant's mark on a session's attendance sheet.")
class AttendanceMark:
    participant_id: uuid.UUID
    present: bool

    @staticmethod
    def from_record(row: AttendanceRow) -> AttendanceMark:
        return AttendanceMark(participant_id=row.participant_id, present=row.present)


@strawberry.type(description="One session day of a cohort.")
class TrainingSession:
    id: uuid.UUID
    held_on: dt.date
    title: str | None

    @strawberry.field(
        description="The session's attendance sheet: who was recorded present or absent, as "
        "REST's GET .../sessions/{id}/attendance."
    )
    async def attendance(self, info: GqlInfo) -> list[AttendanceMark]:
        rows = await info.context.loaders.session_attendance.load(self.id)
        return [AttendanceMark.from_record(row) for row in rows]

    @staticmethod
    def from_record(row: SessionRow) -> TrainingSession:
        return TrainingSession(id=row.id, held_on=row.held_on, title=row.title)


@strawberry.type(description="A person in a cohort, with assessment, attendance and outcome.")
class TrainingParticipant:
    id: uuid.UUID
    cohort_id: uuid.UUID
    member_id: uuid.UUID | None
    family_id: uuid.UUID
    name: str
    needs: str | None
    business_potential: str | None
    assessment_notes: str | None
    attended: int
    total: int
    attendance_pct: float
    completed: bool = strawberry.field(
        description="Attended sessions reached the cohort's completion threshold."
    )
    started_business: bool | None
    business_kind: str | None
    version: int

    @staticmethod
    def from_record(record: ParticipantRecord) -> TrainingParticipant:
        out = present_participant(record)
        return TrainingParticipant(
            id=out.id,
            cohort_id=out.cohort_id,
            member_id=out.member_id,
            family_id=out.family_id,
            name=out.name,
            needs=out.assessment.needs if out.assessment else None,
            business_potential=out.assessment.business_potential if out.assessment else None,
            assessment_notes=out.assessment.notes if out.assessment else None,
            attended=out.attended,
            total=out.total,
            attendance_pct=out.attendance_pct,
            completed=out.completed,
            started_business=out.outcome.started_business if out.outcome else None,
            business_kind=out.outcome.business_kind if out.outcome else None,
            version=out.version,
        )


@strawberry.type(description="A training cohort. Needs training:read.")
class TrainingCohort:
    id: uuid.UUID
    name: str
    program_code: str
    topic: str
    region_code: str
    venue: str | None
    capacity: int
    facilitator_id: uuid.UUID | None
    trainer_name: str | None
    status: str = strawberry.field(description="planned, running, completed or cancelled.")
    completion_threshold: int
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @strawberry.field(description="Session days, by date.")
    async def sessions(self, info: GqlInfo) -> list[TrainingSession]:
        rows = await info.context.loaders.cohort_sessions.load(self.id)
        return [TrainingSession.from_record(row) for row in rows]

    @strawberry.field(description="Participants in enrolment order, with their completion.")
    async def participants(self, info: GqlInfo) -> list[TrainingParticipant]:
        records = await info.context.loaders.cohort_participants.load(self.id)
        return [TrainingParticipant.from_record(record) for record in records]

    @strawberry.field(description="How many are enrolled.")
    async def participant_count(self, info: GqlInfo) -> int:
        return await info.context.loaders.cohort_participant_count.load(self.id)

    @staticmethod
    def from_record(row: CohortRow) -> TrainingCohort:
        return TrainingCohort(
            id=row.id,
            name=row.name,
            program_code=row.program_code,
            topic=row.topic,
            region_code=row.region_code,
            venue=row.venue,
            capacity=row.capacity,
            facilitator_id=row.facilitator_id,
            trainer_name=row.trainer_name,
            status=row.status,
            completion_threshold=row.completion_threshold,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


@strawberry.type
class TrainingCohortPage:
    items: list[TrainingCohort]
    next_cursor: str | None


@strawberry.input
class TrainingSessionInput:
    held_on: dt.date
    title: str | None = None


@strawberry.input
class TrainingCohortCreateInput:
    name: str
    program_code: str
    topic: str
    region_code: str
    capacity: int
    venue: str | None = None
    facilitator_id: uuid.UUID | None = None
    trainer_name: str | None = None
    completion_threshold: int = 75
    sessions: list[TrainingSessionInput] = strawberry.field(default_factory=list)


@strawberry.input
class AssessmentInput:
    needs: str | None = None
    business_potential: str | None = None
    notes: str | None = None


@strawberry.input
class AttendanceInput:
    participant_id: uuid.UUID
    present: bool


@strawberry.input
class TrainingCohortFilterInput:
    region: str | None = None
    status: str | None = None
    program: str | None = None
    topic: str | None = None
    updated_since: dt.datetime | None = None
    name: str | None = None


@strawberry.input(description="Only the fields sent are changed.")
class TrainingCohortUpdateInput:
    name: str | None = strawberry.UNSET
    topic: str | None = strawberry.UNSET
    venue: str | None = strawberry.UNSET
    capacity: int | None = strawberry.UNSET
    facilitator_id: uuid.UUID | None = strawberry.UNSET
    trainer_name: str | None = strawberry.UNSET
    completion_threshold: int | None = strawberry.UNSET


@strawberry.input(description="`businessKind` is required when `startedBusiness` is true.")
class OutcomeInput:
    started_business: bool
    business_kind: str | None = None
