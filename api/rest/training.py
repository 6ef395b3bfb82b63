from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CallerDep, IfMatch, OptionalIfMatch, SessionDep, etag, parse_if_match
from api.exports import PAGE_SIZE, ExportFormat, export_list, export_responses, joined, table
from api.problems import problem_responses
from api.rest.params import Cursor, Limit, UpdatedSince
from schemas.common import Page
from schemas.filters import NameSearch, ProgramCodeFilter
from schemas.training import (
    AssessmentIn,
    AttendanceOut,
    AttendanceSheet,
    CohortCreate,
    CohortOut,
    CohortStatus,
    CohortTransitionIn,
    CohortUpdate,
    OutcomeIn,
    ParticipantCreate,
    ParticipantOut,
    SessionIn,
    TrainingTopic,
)
from service.pagination import Page as ServicePage
from service.training import attendance, cohorts, participants
from service.training.tables import TrainingAttendance
from service.training.views import (
    CohortRecord,
    ParticipantRecord,
    present_cohort,
    present_participant,
)

router = APIRouter(
    prefix="/api/v1/training-cohorts",
    tags=["training"],
    responses=problem_responses(401, 403, 422),
)

CohortId = Annotated[uuid.UUID, Path(description="The cohort's id.")]
SessionId = Annotated[uuid.UUID, Path(description="The session's id.")]
ParticipantId = Annotated[uuid.UUID, Path(description="The participant's id.")]


def cohort_filters(
    region: Annotated[
        str | None, Query(description="Region code prefix: cohorts held in this region.")
    ] = None,
    cohort_status: Annotated[CohortStatus | None, Query(alias="status")] = None,
    program: Annotated[ProgramCodeFilter | None, Query()] = None,
    topic: Annotated[TrainingTopic | None, Query()] = None,
    updated_since: UpdatedSince = None,
    name: Annotated[NameSearch | None, Query(description="Part of the cohort's name.")] = None,
) -> cohorts.CohortFilters:
    return cohorts.CohortFilters(
        region=region,
        status=cohort_status.value if cohort_status else None,
        program=program,
        topic=topic.value if topic else None,
        updated_since=updated_since,
        name=name,
    )


FiltersDep = Annotated[cohorts.CohortFilters, Depends(cohort_filters)]

COHORT_COLUMNS = table(
    CohortOut,
    session_count=lambda cohort: len(cohort.sessions),
    session_dates=lambda cohort: joined([item.held_on.isoformat() for item in cohort.sessions]),
)
PARTICIPANT_COLUMNS = table(ParticipantOut)


def _cohort_response(record: CohortRecord, response: Response) -> CohortOut:
    response.headers["ETag"] = etag(record.cohort.version)
    return present_cohort(record)


def _sheet(rows: list[TrainingAttendance]) -> list[AttendanceOut]:
    return [AttendanceOut(participant_id=row.participant_id, present=row.present) for row in rows]


@router.get("", operation_id="listTrainingCohorts", response_model=Page[CohortOut])
async def list_cohorts(
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CohortOut]:
    """Training cohorts held in the client's region, with their sessions, ordered by last
    change. Needs `training:read`."""
    page = await cohorts.list_cohorts(session, caller, filters, limit=limit, cursor=cursor)
    return Page[CohortOut](
        items=[present_cohort(record) for record in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/export",
    operation_id="exportTrainingCohorts",
    response_class=StreamingResponse,
    responses=export_responses("The cohorts, one line per cohort."),
)
async def export_cohorts(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    file_format: ExportFormat = "csv",
) -> StreamingResponse:
    """The list's cohorts (same filters, same order) as a file, streamed: one line per cohort,
    with `session_count` and `session_dates` (separated by `;`). Needs `training:read`."""
    return await export_list(
        request,
        session,
        file_format,
        "training-cohorts",
        COHORT_COLUMNS,
        lambda session, cursor: cohorts.list_cohorts(
            session, caller, filters, limit=PAGE_SIZE, cursor=cursor
        ),
        present_cohort,
    )


@router.post(
    "",
    operation_id="createTrainingCohort",
    response_model=CohortOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_cohort(
    session: SessionDep, caller: CallerDep, body: CohortCreate, response: Response
) -> CohortOut:
    """Plan a training cohort: program, topic (`menjahit`, `tata_boga`, `beternak`,
    `pertanian`, `kerajinan`, `digital`, `lainnya`), where it is held (a region in yours),
    capacity, trainer or facilitator, completion threshold (percent of sessions, 75 by default)
    and its session dates (one a day; more can be added later). It starts `planned`.
    Needs `training:write`."""
    record = await cohorts.create_cohort(session, caller, body)
    response.headers["Location"] = f"/api/v1/training-cohorts/{record.cohort.id}"
    return _cohort_response(record, response)


@router.get(
    "/{cohort_id:uuid}",
    operation_id="getTrainingCohort",
    response_model=CohortOut,
    responses=problem_responses(404),
)
async def get_cohort(
    session: SessionDep, caller: CallerDep, cohort_id: CohortId, response: Response
) -> CohortOut:
    """One cohort with its sessions and the number enrolled. The `ETag` is its version."""
    return _cohort_response(await cohorts.read_cohort(session, caller, cohort_id), response)


@router.patch(
    "/{cohort_id:uuid}",
    operation_id="updateTrainingCohort",
    response_model=CohortOut,
    responses=problem_responses(404, 409, 412, 428),
)
async def update_cohort(
    session: SessionDep,
    caller: CallerDep,
    cohort_id: CohortId,
    body: CohortUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> CohortOut:
    """Change the cohort's own fields. The capacity cannot go below the number enrolled
    (409 `capacity_below_participants`). Needs `If-Match`."""
    record = await cohorts.update_cohort(
        session, caller, cohort_id, body, if_match=parse_if_match(if_match)
    )
    return _cohort_response(record, response)


@router.post(
    "/{cohort_id}/transitions",
    operation_id="changeTrainingCohortStatus",
    response_model=CohortOut,
    responses=problem_responses(404, 409, 412),
)
async def change_status(
    session: SessionDep,
    caller: CallerDep,
    cohort_id: CohortId,
    body: CohortTransitionIn,
    response: Response,
    if_match: OptionalIfMatch = None,
) -> CohortOut:
    """Move the cohort: planned → running | cancelled; running → completed | cancelled (409
    `invalid_transition` otherwise). It starts running only with a session (409
    `no_sessions`). `If-Match` is optional."""
    record = await cohorts.change_status(
        session, caller, cohort_id, body, if_match=parse_if_match(if_match)
    )
    return _cohort_response(record, response)


@router.post(
    "/{cohort_id}/sessions",
    operation_id="addTrainingSession",
    response_model=CohortOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409, 412),
)
async def add_session(
    session: SessionDep,
    caller: CallerDep,
    cohort_id: CohortId,
    body: SessionIn,
    response: Response,
    if_match: OptionalIfMatch = None,
) -> CohortOut:
    """Add a session day to a planned or running cohort; answers the cohort. One session a day
    (422 `duplicate_session`). Every participant's total grows with it."""
    record = await cohorts.add_session(
        session, caller, cohort_id, body, if_match=parse_if_match(if_match)
    )
    return _cohort_response(record, response)


@router.get(
    "/{cohort_id}/sessions/{session_id}/attendance",
    operation_id="getAttendance",
    response_model=list[AttendanceOut],
    responses=problem_responses(404),
)
async def get_attendance(
    session: SessionDep, caller: CallerDep, cohort_id: CohortId, session_id: SessionId
) -> list[AttendanceOut]:
    """The session's attendance sheet: who was recorded present or absent."""
    return _sheet(await attendance.attendance_sheet(session, caller, cohort_id, session_id))


@router.put(
    "/{cohort_id}/sessions/{session_id}/attendance",
    operation_id="recordAttendance",
    response_model=list[AttendanceOut],
    responses=problem_responses(404, 409),
)
async def record_attendance(
    session: SessionDep,
    caller: CallerDep,
    cohort_id: CohortId,
    session_id: SessionId,
    body: AttendanceSheet,
) -> list[AttendanceOut]:
    """Record present or absent for the participants listed (others keep what they had) and
    answer the whole sheet. Idempotent: sending the same sheet again changes nothing. Taken
    while the cohort is running or completed (409 `cohort_not_running`), for sessions that
    have taken place (409 `session_in_future`)."""
    rows = await attendance.record_attendance(session, caller, cohort_id, session_id, body)
    return _sheet(rows)


@router.get(
    "/{cohort_id}/participants",
    operation_id="listParticipants",
    response_model=list[ParticipantOut],
    responses=problem_responses(404),
)
async def list_participants(
    session: SessionDep, caller: CallerDep, cohort_id: CohortId
) -> list[ParticipantOut]:
    """Everyone enrolled, in enrolment order, with attendance and completion: `attended` of
    `total` sessions, `attendance_pct`, and `completed` once the share reaches the cohort's
    threshold."""
    records = await participants.list_participants(session, caller, cohort_id)
    return [present_participant(record) for record in records]


@router.get(
    "/{cohort_id}/participants/export",
    operation_id="exportParticipants",
    response_class=StreamingResponse,
    responses={**export_responses("The participants, one line each."), **problem_responses(404)},
)
async def export_participants(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    cohort_id: CohortId,
    file_format: ExportFormat = "csv",
) -> StreamingResponse:
    """The cohort's participants as a file, one line each, in enrolment order, with attendance,
    completion, and the assessment and outcome fields (`assessment_needs`,
    `outcome_started_business`, ...). Needs `training:read`."""

    async def everyone(
        session: AsyncSession, _cursor: str | None
    ) -> ServicePage[ParticipantRecord]:
        # A cohort holds at most its capacity (500): one page.
        records = await participants.list_participants(session, caller, cohort_id)
        return ServicePage(items=records, next_cursor=None)

    return await export_list(
        request,
        session,
        file_format,
        "participants",
        PARTICIPANT_COLUMNS,
        everyone,
        present_participant,
    )


@router.post(
    "/{cohort_id}/participants",
    operation_id="enrolParticipant",
    response_model=ParticipantOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409),
)
async def enrol_participant(
    session: SessionDep, caller: CallerDep, cohort_id: CohortId, body: ParticipantCreate
) -> ParticipantOut:
    """Enrol a person (a family member's id) with an optional pre-training assessment (needs,
    business potential, notes). The person's family must be one you can see and lie in the
    regency where the cohort is held (422 naming `member_id`). Refused with 409:
    `cohort_full` (also under concurrent enrolments), `already_enrolled`, `cohort_closed`."""
    record = await participants.enrol(session, caller, cohort_id, body)
    return present_participant(record)


@router.delete(
    "/{cohort_id}/participants/{participant_id:uuid}",
    operation_id="withdrawParticipant",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409),
)
async def withdraw_participant(
    session: SessionDep, caller: CallerDep, cohort_id: CohortId, participant_id: ParticipantId
) -> Response:
    """Free a place before the cohort starts (409 `cohort_started` afterwards)."""
    await participants.withdraw(session, caller, cohort_id, participant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{cohort_id}/participants/{participant_id}/assessment",
    operation_id="setAssessment",
    response_model=ParticipantOut,
    responses=problem_responses(404, 409),
)
async def set_assessment(
    session: SessionDep,
    caller: CallerDep,
    cohort_id: CohortId,
    participant_id: ParticipantId,
    body: AssessmentIn,
) -> ParticipantOut:
    """Replace the participant's pre-training assessment (until the cohort ends)."""
    record = await participants.set_assessment(session, caller, cohort_id, participant_id, body)
    return present_participant(record)


@router.put(
    "/{cohort_id}/participants/{participant_id}/outcome",
    operation_id="setOutcome",
    response_model=ParticipantOut,
    responses=problem_responses(404, 409),
)
async def set_outcome(
    session: SessionDep,
    caller: CallerDep,
    cohort_id: CohortId,
    participant_id: ParticipantId,
    body: OutcomeIn,
) -> ParticipantOut:
    """Record the follow-up of a completed cohort: did the person start a business, and which
    (`business_kind` is required when `started_business` is true)."""
    record = await participants.set_outcome(session, caller, cohort_id, participant_id, body)
    return present_participant(record)
