"""Resolvers of the training fields: parse, call the same service functions as REST, render."""

from __future__ import annotations

import dataclasses
import uuid

from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments, sent_fields
from api.graphql.training_types import (
    AssessmentInput,
    AttendanceInput,
    OutcomeInput,
    TrainingCohort,
    TrainingCohortCreateInput,
    TrainingCohortFilterInput,
    TrainingCohortPage,
    TrainingCohortUpdateInput,
    TrainingParticipant,
    TrainingSessionInput,
)
from schemas.filters import TrainingCohortListArguments
from schemas.training import (
    AssessmentIn,
    AttendanceSheet,
    CohortCreate,
    CohortTransitionIn,
    CohortUpdate,
    OutcomeIn,
    ParticipantCreate,
    SessionIn,
)
from service.training import attendance, cohorts, participants

GqlInfo = Info[GraphQLContext, None]


async def training_cohort(info: GqlInfo, id: uuid.UUID) -> TrainingCohort:
    cohort = await cohorts.get_cohort(info.context.session, info.context.caller, id)
    return TrainingCohort.from_record(cohort)


async def training_cohorts(
    info: GqlInfo,
    filter: TrainingCohortFilterInput | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TrainingCohortPage:
    check_list_arguments(TrainingCohortListArguments, filter, cursor=cursor)
    filters = (
        cohorts.CohortFilters(**dataclasses.asdict(filter)) if filter else cohorts.CohortFilters()
    )
    page = await cohorts.find_cohorts(
        info.context.session, info.context.caller, filters, limit=limit, cursor=cursor
    )
    return TrainingCohortPage(
        items=[TrainingCohort.from_record(row) for row in page.items],
        next_cursor=page.next_cursor,
    )


async def create_training_cohort(info: GqlInfo, input: TrainingCohortCreateInput) -> TrainingCohort:
    body = CohortCreate.model_validate(dataclasses.asdict(input))
    record = await cohorts.create_cohort(info.context.session, info.context.caller, body)
    return TrainingCohort.from_record(record.cohort)


async def enrol_participant(
    info: GqlInfo,
    cohort_id: uuid.UUID,
    member_id: uuid.UUID,
    assessment: AssessmentInput | None = None,
) -> TrainingParticipant:
    body = ParticipantCreate.model_validate(
        {
            "member_id": member_id,
            "assessment": dataclasses.asdict(assessment) if assessment else None,
        }
    )
    record = await participants.enrol(info.context.session, info.context.caller, cohort_id, body)
    return TrainingParticipant.from_record(record)


async def record_attendance(
    info: GqlInfo,
    cohort_id: uuid.UUID,
    session_id: uuid.UUID,
    records: list[AttendanceInput],
) -> TrainingCohort:
    sheet = AttendanceSheet.model_validate(
        {"records": [dataclasses.asdict(record) for record in records]}
    )
    await attendance.record_attendance(
        info.context.session, info.context.caller, cohort_id, session_id, sheet
    )
    cohort = await cohorts.get_cohort(info.context.session, info.context.caller, cohort_id)
    return TrainingCohort.from_record(cohort)


async def update_training_cohort(
    info: GqlInfo, cohort_id: uuid.UUID, expected_version: int, input: TrainingCohortUpdateInput
) -> TrainingCohort:
    body = CohortUpdate.model_validate(sent_fields(input))
    record = await cohorts.update_cohort(
        info.context.session, info.context.caller, cohort_id, body, if_match=expected_version
    )
    return TrainingCohort.from_record(record.cohort)


async def change_training_cohort_status(
    info: GqlInfo,
    cohort_id: uuid.UUID,
    to: str,
    note: str | None = None,
    expected_version: int | None = None,
) -> TrainingCohort:
    body = CohortTransitionIn.model_validate({"to": to, "note": note})
    record = await cohorts.change_status(
        info.context.session, info.context.caller, cohort_id, body, if_match=expected_version
    )
    return TrainingCohort.from_record(record.cohort)


async def add_training_session(
    info: GqlInfo,
    cohort_id: uuid.UUID,
    input: TrainingSessionInput,
    expected_version: int | None = None,
) -> TrainingCohort:
    body = SessionIn.model_validate(dataclasses.asdict(input))
    record = await cohorts.add_session(
        info.context.session, info.context.caller, cohort_id, body, if_match=expected_version
    )
    return TrainingCohort.from_record(record.cohort)


async def withdraw_participant(
    info: GqlInfo, cohort_id: uuid.UUID, participant_id: uuid.UUID
) -> TrainingCohort:
    await participants.withdraw(
        info.context.session, info.context.caller, cohort_id, participant_id
    )
    cohort = await cohorts.get_cohort(info.context.session, info.context.caller, cohort_id)
    return TrainingCohort.from_record(cohort)


async def set_assessment(
    info: GqlInfo, cohort_id: uuid.UUID, participant_id: uuid.UUID, input: AssessmentInput
) -> TrainingParticipant:
    body = AssessmentIn.model_validate(dataclasses.asdict(input))
    record = await participants.set_assessment(
        info.context.session, info.context.caller, cohort_id, participant_id, body
    )
    return TrainingParticipant.from_record(record)


async def set_outcome(
    info: GqlInfo, cohort_id: uuid.UUID, participant_id: uuid.UUID, input: OutcomeInput
) -> TrainingParticipant:
    body = OutcomeIn.model_validate(dataclasses.asdict(input))
    record = await participants.set_outcome(
        info.context.session, info.context.caller, cohort_id, participant_id, body
    )
    return TrainingParticipant.from_record(record)
