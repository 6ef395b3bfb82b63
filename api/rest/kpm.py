from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from api.deps import (
    CallerDep,
    IfMatch,
    SessionDep,
    StandaloneCallerDep,
    etag,
    one_statement,
    parse_if_match,
    standalone_caller_of,
)
from api.exports import ExportFormat, export_responses, file_response
from api.imports import receive_upload, start_in_background
from api.problems import problem_responses
from api.rest.params import Cursor, Limit, UpdatedSince
from schemas.common import Page
from schemas.filters import DesilFilter, ExactNik, NameSearch, ProgramCodeFilter
from schemas.kpm import (
    ArchiveRequest,
    EnrollmentChange,
    EnrollmentCreate,
    EnrollmentOut,
    EnrollmentStatus,
    EnrollmentTransitionOut,
    FamilyCreate,
    FamilyOut,
    FamilyUpdate,
    ImportJobOut,
    ImportRefusalOut,
    MemberIn,
    MemberUpdate,
    VerificationIn,
    VerificationOut,
    VerificationOutcome,
)
from service.access import Caller
from service.kpm import enrollment, export, families, imports, verification
from service.kpm.import_files import FIELDS
from service.kpm.views import FamilyRecord, family_json, present_family

router = APIRouter(prefix="/api/v1/kpm", tags=["kpm"], responses=problem_responses(401, 403, 422))

FamilyId = Annotated[uuid.UUID, Path(description="The family's id.")]
MemberId = Annotated[uuid.UUID, Path(description="The member's id.")]
ProgramCode = Annotated[str, Path(max_length=20, examples=["PKH"])]


def family_filters(
    region: Annotated[
        str | None, Query(description="Region code prefix: families in this region.")
    ] = None,
    village_code: Annotated[str | None, Query()] = None,
    verification_status: Annotated[VerificationOutcome | None, Query()] = None,
    program: Annotated[ProgramCodeFilter | None, Query(description="Enrolled in program.")] = None,
    enrollment_status: Annotated[
        EnrollmentStatus | None, Query(description="With `program`: enrollment in this status.")
    ] = None,
    desil: Annotated[DesilFilter | None, Query()] = None,
    updated_since: UpdatedSince = None,
    name: Annotated[NameSearch | None, Query(description="Part of a member's name.")] = None,
    nik: Annotated[ExactNik | None, Query(description="Exact NIK.")] = None,
    no_kk: Annotated[ExactNik | None, Query()] = None,
) -> families.FamilyFilters:
    return families.FamilyFilters(
        region=region,
        village_code=village_code,
        verification_status=verification_status.value if verification_status else None,
        program=program,
        enrollment_status=enrollment_status.value if enrollment_status else None,
        desil=desil,
        updated_since=updated_since,
        name=name,
        nik=nik,
        no_kk=no_kk,
    )


FiltersDep = Annotated[families.FamilyFilters, Depends(family_filters)]


def _family_response(record: FamilyRecord, caller: Caller, response: Response) -> FamilyOut:
    response.headers["ETag"] = etag(record.family.version)
    return present_family(record, caller)


@router.get("", operation_id="listFamilies", response_model=Page[FamilyOut])
async def list_families(
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[FamilyOut]:
    """Live families in the client's region, members and enrollments included, ordered by last
    change (so `updated_since` plus `next_cursor` is an incremental sync). Needs `kpm:read`;
    NIK and No KK are masked without `pii:read`."""
    page = await families.list_families(session, caller, filters, limit=limit, cursor=cursor)
    return Page[FamilyOut](
        items=[present_family(record, caller) for record in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/export",
    operation_id="exportFamilies",
    response_class=StreamingResponse,
    responses=export_responses("The families, one line per person."),
)
async def export_families(
    request: Request, caller: CallerDep, filters: FiltersDep, file_format: ExportFormat = "csv"
) -> StreamingResponse:
    """The list's families (same filters) as a file, one line per person (the members of every
    family), streamed: the import's columns (`no_kk`, `nik`, `name`, `relationship`, `sex`,
    `birth_date`, `village_code`, `address`, `desil`, `programs`; the import's Indonesian
    headers with `Accept-Language: id`). The CSV imports back unchanged. NIK and No KK are
    masked without `pii:read`; with it, each family in the file is audited as read."""
    query = export.export_query(caller, filters)
    rows = export.export_rows(request.app.state.sessions, caller, query)
    return file_response(request, file_format, "kpm", FIELDS, rows)


@router.post(
    "/imports",
    operation_id="startImport",
    response_model=ImportJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def start_import(
    request: Request,
    caller: CallerDep,
    response: Response,
    file_format: Annotated[str, Query(alias="format", pattern="^(csv|ndjson)$")] = "csv",
) -> ImportJobOut:
    """Upload a roll of families as the request body (the canonical CSV, one row per person,
    English or Indonesian headers; or NDJSON), up to 200 MB. Answers 202 with a job; poll
    `GET /api/v1/kpm/imports/{id}` for progress and counts, then read the refused rows.
    Each family goes in whole or not at all; families already registered (same No KK) are
    updated; importing the same file again changes nothing. The file is kept by the service
    until the job ends: if the server handling the job stops, another one resumes it from its
    last committed batch, and the counts end as they would have. Needs `kpm:write`."""
    imports.authorize(caller)
    job = await receive_upload(request, caller, file_format)
    start_in_background(request.app, job.id)
    response.headers["Location"] = f"/api/v1/kpm/imports/{job.id}"
    return ImportJobOut.model_validate(job, from_attributes=True)


@router.get(
    "/imports/{job_id}",
    operation_id="getImport",
    response_model=ImportJobOut,
    responses=problem_responses(404),
)
async def get_import(session: SessionDep, caller: CallerDep, job_id: uuid.UUID) -> ImportJobOut:
    """An import's status (`queued`, `running`, `done`, `failed`) and counts so far. Only the
    client that started it can see it."""
    job = await imports.get_job(session, caller, job_id)
    return ImportJobOut.model_validate(job, from_attributes=True)


@router.get(
    "/imports/{job_id}/refusals",
    operation_id="listImportRefusals",
    response_model=Page[ImportRefusalOut],
    responses=problem_responses(404),
)
async def list_import_refusals(
    session: SessionDep,
    caller: CallerDep,
    job_id: uuid.UUID,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ImportRefusalOut]:
    """Why families were refused: one entry per problem, with its line, the lines of all the
    family's rows, No KK, NIK (masked without `pii:read`), field and code."""
    page = await imports.list_refusals(session, caller, job_id, limit=limit, cursor=cursor)
    return Page[ImportRefusalOut](
        items=[imports.present_refusal(item, caller) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.post(
    "",
    operation_id="createFamily",
    response_model=FamilyOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
async def create_family(
    session: SessionDep, caller: CallerDep, body: FamilyCreate, response: Response
) -> FamilyOut:
    """Register a family with all its members in one request. Needs `kpm:write`.

    Refused with 422 naming each field (`members.2.nik`, ...): a NIK or No KK that is not 16
    digits with a real date (day + 40 for women) and a known province, no or several
    `KEPALA_KELUARGA`, an unknown village or program, a birth date in the future. A NIK whose
    date or sex disagrees with the member is accepted and flagged `nik_mismatch`. A NIK or No KK
    already in another live family is a 409; when that family lies outside your region the answer
    names only its regency code.
    """
    record = await families.create_family(session, caller, body)
    response.headers["Location"] = f"/api/v1/kpm/{record.family.id}"
    return _family_response(record, caller, response)


@router.get(
    "/{family_id:uuid}",
    operation_id="getFamily",
    response_model=FamilyOut,
    responses=problem_responses(404),
)
async def get_family(
    request: Request, caller: StandaloneCallerDep, family_id: FamilyId
) -> Response:
    """One family with its members and enrollments; archived families stay readable here.
    The `ETag` is the family's version, for changes with `If-Match`."""
    # The hot path of a village system's sync: one statement (the audit of a read with
    # personal numbers included), the answer written out once in FamilyOut's shape.
    record = await families.read_family_at_once(one_statement(request), caller, family_id)
    return Response(
        family_json(record, caller),
        media_type="application/json",
        headers={"ETag": etag(record.family.version)},
    )


async def serve_family(request: Request) -> Response:
    """``get_family`` as a hot route (``api.hot_routes``): the router's walk and FastAPI's
    dependency resolution skipped, the same endpoint called."""
    caller = await standalone_caller_of(request)
    return await get_family(request, caller, request.path_params["family_id"])


@router.patch(
    "/{family_id:uuid}",
    operation_id="updateFamily",
    response_model=FamilyOut,
    responses=problem_responses(404, 409, 412, 428),
)
async def update_family(
    session: SessionDep,
    caller: CallerDep,
    family_id: FamilyId,
    body: FamilyUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> FamilyOut:
    """Change the family's own fields (members have their own endpoints). Needs `If-Match`."""
    record = await families.update_family(
        session, caller, family_id, body, if_match=parse_if_match(if_match)
    )
    return _family_response(record, caller, response)


@router.post(
    "/{family_id}/archive",
    operation_id="archiveFamily",
    response_model=FamilyOut,
    responses=problem_responses(404, 409, 412, 428),
)
async def archive_family(
    session: SessionDep,
    caller: CallerDep,
    family_id: FamilyId,
    body: ArchiveRequest,
    response: Response,
    if_match: IfMatch = None,
) -> FamilyOut:
    """Archive a family with a reason: it leaves lists and exports, and its No KK and NIKs are
    free for another family. It stays readable by id and in the audit trail."""
    record = await families.archive_family(
        session, caller, family_id, body.reason, if_match=parse_if_match(if_match)
    )
    return _family_response(record, caller, response)


@router.post(
    "/{family_id}/members",
    operation_id="addMember",
    response_model=FamilyOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409, 412, 428),
)
async def add_member(
    session: SessionDep,
    caller: CallerDep,
    family_id: FamilyId,
    body: MemberIn,
    response: Response,
    if_match: IfMatch = None,
) -> FamilyOut:
    """Add a person to the family (`If-Match` with the family's `ETag`)."""
    record = await families.add_member(
        session, caller, family_id, body, if_match=parse_if_match(if_match)
    )
    return _family_response(record, caller, response)


@router.patch(
    "/{family_id}/members/{member_id}",
    operation_id="updateMember",
    response_model=FamilyOut,
    responses=problem_responses(404, 409, 412, 428),
)
async def update_member(
    session: SessionDep,
    caller: CallerDep,
    family_id: FamilyId,
    member_id: MemberId,
    body: MemberUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> FamilyOut:
    """Change a member (`If-Match` with the family's `ETag`). The family must still have
    exactly one `KEPALA_KELUARGA` afterwards."""
    record = await families.update_member(
        session, caller, family_id, member_id, body, if_match=parse_if_match(if_match)
    )
    return _family_response(record, caller, response)


@router.delete(
    "/{family_id}/members/{member_id}",
    operation_id="removeMember",
    response_model=FamilyOut,
    responses=problem_responses(404, 409, 412, 428),
)
async def remove_member(
    session: SessionDep,
    caller: CallerDep,
    family_id: FamilyId,
    member_id: MemberId,
    response: Response,
    if_match: IfMatch = None,
) -> FamilyOut:
    """Remove a member (`If-Match` with the family's `ETag`); answers the family as it is now."""
    record = await families.remove_member(
        session, caller, family_id, member_id, if_match=parse_if_match(if_match)
    )
    return _family_response(record, caller, response)


@router.post(
    "/{family_id}/verifications",
    operation_id="recordVerification",
    response_model=VerificationOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404),
)
async def record_verification(
    session: SessionDep, caller: CallerDep, family_id: FamilyId, body: VerificationIn
) -> VerificationOut:
    """Record a field visit (verval). The family's `verification_status` becomes the outcome of
    its latest visit by date; every visit is kept."""
    visit = await verification.record_verification(session, caller, family_id, body)
    return VerificationOut.model_validate(visit)


@router.get(
    "/{family_id}/verifications",
    operation_id="listVerifications",
    response_model=list[VerificationOut],
    responses=problem_responses(404),
)
async def list_verifications(
    session: SessionDep, caller: CallerDep, family_id: FamilyId
) -> list[VerificationOut]:
    """The family's verification visits, latest first."""
    visits = await verification.list_verifications(session, caller, family_id)
    return [VerificationOut.model_validate(visit) for visit in visits]


@router.post(
    "/{family_id}/enrollments",
    operation_id="enrollFamily",
    response_model=EnrollmentOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409),
)
async def enroll_family(
    session: SessionDep,
    caller: CallerDep,
    family_id: FamilyId,
    body: EnrollmentCreate,
    response: Response,
) -> EnrollmentOut:
    """Enroll the family in a program, as `proposed` or `active`."""
    record = await enrollment.enroll(session, caller, family_id, body)
    response.headers["ETag"] = etag(record.version)
    return EnrollmentOut.model_validate(record, from_attributes=True)


@router.patch(
    "/{family_id}/enrollments/{program_code}",
    operation_id="changeEnrollment",
    response_model=EnrollmentOut,
    responses=problem_responses(404, 409, 412, 428),
)
async def change_enrollment(
    session: SessionDep,
    caller: CallerDep,
    family_id: FamilyId,
    program_code: ProgramCode,
    body: EnrollmentChange,
    response: Response,
    if_match: IfMatch = None,
) -> EnrollmentOut:
    """Move an enrollment to another status (`If-Match` with the enrollment's version).
    Allowed: proposed → active | exited; active → suspended | graduated | exited;
    suspended → active | graduated | exited. Graduating needs `graduation_kind`
    (`mandiri`, `alamiah`, `verval`) and credits the family's facilitator unless another is
    named. Any other move is a 409 `invalid_transition`."""
    record = await enrollment.change_enrollment(
        session, caller, family_id, program_code, body, if_match=parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(record.version)
    return EnrollmentOut.model_validate(record, from_attributes=True)


@router.get(
    "/{family_id}/enrollments/{program_code}/history",
    operation_id="enrollmentHistory",
    response_model=list[EnrollmentTransitionOut],
    responses=problem_responses(404),
)
async def enrollment_history(
    session: SessionDep, caller: CallerDep, family_id: FamilyId, program_code: ProgramCode
) -> list[EnrollmentTransitionOut]:
    """Every status the enrollment went through, oldest first."""
    transitions = await enrollment.enrollment_history(session, caller, family_id, program_code)
    return [EnrollmentTransitionOut.model_validate(t) for t in transitions]
