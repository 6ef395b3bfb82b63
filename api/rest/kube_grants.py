from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from api.deps import CallerDep, IfMatch, OptionalIfMatch, SessionDep, etag, parse_if_match
from api.exports import PAGE_SIZE, ExportFormat, export_list, export_responses, table
from api.problems import problem_responses
from api.rest.params import Cursor, Limit, UpdatedSince
from schemas.common import Page
from schemas.kube import (
    GrantCreate,
    GrantOut,
    GrantReportIn,
    GrantReportOut,
    GrantStatus,
    GrantTransitionIn,
    GrantTransitionOut,
    GrantUpdate,
)
from service.kube import grants, reports
from service.kube.tables import KubeGrant
from service.kube.views import present_grant

router = APIRouter(
    prefix="/api/v1/kube-grants", tags=["kube-grants"], responses=problem_responses(401, 403, 422)
)

GrantId = Annotated[uuid.UUID, Path(description="The grant's id.")]


def _grant_response(grant: KubeGrant, response: Response) -> GrantOut:
    response.headers["ETag"] = etag(grant.version)
    return present_grant(grant)


def grant_filters(
    region: Annotated[
        str | None, Query(description="Region code prefix: grants of groups in this region.")
    ] = None,
    grant_status: Annotated[GrantStatus | None, Query(alias="status")] = None,
    group_id: Annotated[uuid.UUID | None, Query()] = None,
    updated_since: UpdatedSince = None,
) -> grants.GrantFilters:
    return grants.GrantFilters(
        region=region,
        status=grant_status.value if grant_status else None,
        group_id=group_id,
        updated_since=updated_since,
    )


FiltersDep = Annotated[grants.GrantFilters, Depends(grant_filters)]
COLUMNS = table(GrantOut)


@router.get("", operation_id="listKubeGrants", response_model=Page[GrantOut])
async def list_grants(
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[GrantOut]:
    """KUBE grants in the client's region, ordered by last change. Needs `kube:read`."""
    page = await grants.list_grants(session, caller, filters, limit=limit, cursor=cursor)
    return Page[GrantOut](
        items=[present_grant(grant) for grant in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/export",
    operation_id="exportKubeGrants",
    response_class=StreamingResponse,
    responses=export_responses("The grants, one line per grant."),
)
async def export_grants(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    file_format: ExportFormat = "csv",
) -> StreamingResponse:
    """The list's grants (same filters, same order) as a file, streamed: one line per grant.
    Needs `kube:read`."""
    return await export_list(
        request,
        session,
        file_format,
        "kube-grants",
        COLUMNS,
        lambda session, cursor: grants.list_grants(
            session, caller, filters, limit=PAGE_SIZE, cursor=cursor
        ),
        present_grant,
    )


@router.post(
    "",
    operation_id="createKubeGrant",
    response_model=GrantOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
async def create_grant(
    session: SessionDep, caller: CallerDep, body: GrantCreate, response: Response
) -> GrantOut:
    """Propose a capital grant (whole rupiah) for an active KUBE group in your region; it starts
    `proposed`. A group has one grant under way at a time (409 `open_grant_exists`); an inactive
    or forming group gets none (409 `group_not_active`). `allocation_id` names the budget
    allocation when known. Needs `kube:write`."""
    grant = await grants.create_grant(session, caller, body)
    response.headers["Location"] = f"/api/v1/kube-grants/{grant.id}"
    return _grant_response(grant, response)


@router.get(
    "/{grant_id:uuid}",
    operation_id="getKubeGrant",
    response_model=GrantOut,
    responses=problem_responses(404),
)
async def get_grant(
    session: SessionDep, caller: CallerDep, grant_id: GrantId, response: Response
) -> GrantOut:
    """One grant. The `ETag` is its version."""
    return _grant_response(await grants.get_grant(session, caller, grant_id), response)


@router.patch(
    "/{grant_id:uuid}",
    operation_id="updateKubeGrant",
    response_model=GrantOut,
    responses=problem_responses(404, 409, 412, 428),
)
async def update_grant(
    session: SessionDep,
    caller: CallerDep,
    grant_id: GrantId,
    body: GrantUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> GrantOut:
    """Change amount, allocation or purpose while the grant is `proposed` or `recommended`
    (409 `grant_locked` after approval). Needs `If-Match`."""
    grant = await grants.update_grant(
        session, caller, grant_id, body, if_match=parse_if_match(if_match)
    )
    return _grant_response(grant, response)


@router.post(
    "/{grant_id}/transitions",
    operation_id="transitionKubeGrant",
    response_model=GrantOut,
    responses=problem_responses(404, 409, 412),
)
async def transition_grant(
    session: SessionDep,
    caller: CallerDep,
    grant_id: GrantId,
    body: GrantTransitionIn,
    response: Response,
    if_match: OptionalIfMatch = None,
) -> GrantOut:
    """Move the grant along its status machine, with an optional note; kept in its history
    with your client and the time. Allowed: proposed → recommended | rejected | cancelled;
    recommended → approved | rejected | cancelled; approved → disbursed | cancelled;
    reporting → closed. A disbursed grant moves to `reporting` with its first business report
    (`POST .../reports`), not by a transition. Any other move is a 409 `invalid_transition`.

    Only the province recommends: `recommended` needs a client bound to a province or a national
    one (403 `province_required` otherwise). `If-Match` is optional: when sent, a stale version
    gets 412."""
    grant = await grants.transition_grant(
        session, caller, grant_id, body, if_match=parse_if_match(if_match)
    )
    return _grant_response(grant, response)


@router.get(
    "/{grant_id}/transitions",
    operation_id="listKubeGrantTransitions",
    response_model=list[GrantTransitionOut],
    responses=problem_responses(404),
)
async def list_transitions(
    session: SessionDep, caller: CallerDep, grant_id: GrantId
) -> list[GrantTransitionOut]:
    """Every status the grant went through, oldest first, with who moved it and their note."""
    history = await grants.grant_history(session, caller, grant_id)
    return [GrantTransitionOut.model_validate(item) for item in history]


@router.post(
    "/{grant_id}/reports",
    operation_id="addKubeGrantReport",
    response_model=GrantReportOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409),
)
async def add_report(
    session: SessionDep, caller: CallerDep, grant_id: GrantId, body: GrantReportIn
) -> GrantReportOut:
    """Record a business progress report (date, revenue in whole rupiah, active members,
    notes). Taken when the grant is `disbursed` or `reporting` (409 `not_reporting` otherwise);
    the first report moves a disbursed grant to `reporting`. Needs `kube:write`."""
    report = await reports.add_report(session, caller, grant_id, body)
    return GrantReportOut.model_validate(report)


@router.get(
    "/{grant_id}/reports",
    operation_id="listKubeGrantReports",
    response_model=list[GrantReportOut],
    responses=problem_responses(404),
)
async def list_reports(
    session: SessionDep, caller: CallerDep, grant_id: GrantId
) -> list[GrantReportOut]:
    """The grant's business reports, by report date."""
    return [
        GrantReportOut.model_validate(report)
        for report in await reports.list_reports(session, caller, grant_id)
    ]
