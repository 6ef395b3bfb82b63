from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from api.deps import CallerDep, IfMatch, SessionDep, etag, parse_if_match
from api.exports import PAGE_SIZE, ExportFormat, export_list, export_responses, table
from api.problems import problem_responses
from api.rest.params import Cursor, Limit
from schemas.common import Page
from schemas.kpm import FacilitatorCreate, FacilitatorOut, FacilitatorUpdate
from service.kpm import facilitators

router = APIRouter(
    prefix="/api/v1/facilitators",
    tags=["facilitators"],
    responses=problem_responses(401, 403, 422),
)

FacilitatorId = Annotated[uuid.UUID, Path()]


@dataclass(frozen=True)
class FacilitatorFilters:
    region: str | None
    active: bool | None


def facilitator_filters(
    region: Annotated[str | None, Query(description="Area of work within this region.")] = None,
    active: Annotated[bool | None, Query()] = None,
) -> FacilitatorFilters:
    return FacilitatorFilters(region=region, active=active)


FiltersDep = Annotated[FacilitatorFilters, Depends(facilitator_filters)]
COLUMNS = table(FacilitatorOut)


@router.get("", operation_id="listFacilitators", response_model=Page[FacilitatorOut])
async def list_facilitators(
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[FacilitatorOut]:
    """Facilitators (pendamping) working in the client's region. Needs `facilitators:read`."""
    page = await facilitators.list_facilitators(
        session, caller, region=filters.region, active=filters.active, limit=limit, cursor=cursor
    )
    return Page[FacilitatorOut](
        items=[facilitators.present_facilitator(f) for f in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/export",
    operation_id="exportFacilitators",
    response_class=StreamingResponse,
    responses=export_responses("The facilitators, one line each."),
)
async def export_facilitators(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    file_format: ExportFormat = "csv",
) -> StreamingResponse:
    """The list's facilitators (same filters, same order) as a file, streamed.
    Needs `facilitators:read`."""
    return await export_list(
        request,
        session,
        file_format,
        "facilitators",
        COLUMNS,
        lambda session, cursor: facilitators.list_facilitators(
            session,
            caller,
            region=filters.region,
            active=filters.active,
            limit=PAGE_SIZE,
            cursor=cursor,
        ),
        facilitators.present_facilitator,
    )


@router.post(
    "",
    operation_id="createFacilitator",
    response_model=FacilitatorOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_facilitator(
    session: SessionDep, caller: CallerDep, body: FacilitatorCreate, response: Response
) -> FacilitatorOut:
    """Register a facilitator with kind (`PKH`, `TKSK`, `KUBE`, `other`), area of work and
    yearly graduation target. Needs `facilitators:write`; the area must lie in your region."""
    facilitator = await facilitators.create_facilitator(session, caller, body)
    response.headers["ETag"] = etag(facilitator.version)
    return facilitators.present_facilitator(facilitator)


@router.get(
    "/{facilitator_id:uuid}",
    operation_id="getFacilitator",
    response_model=FacilitatorOut,
    responses=problem_responses(404),
)
async def get_facilitator(
    session: SessionDep, caller: CallerDep, facilitator_id: FacilitatorId, response: Response
) -> FacilitatorOut:
    """One facilitator."""
    facilitator = await facilitators.get_facilitator(session, caller, facilitator_id)
    response.headers["ETag"] = etag(facilitator.version)
    return facilitators.present_facilitator(facilitator)


@router.patch(
    "/{facilitator_id:uuid}",
    operation_id="updateFacilitator",
    response_model=FacilitatorOut,
    responses=problem_responses(404, 412, 428),
)
async def update_facilitator(
    session: SessionDep,
    caller: CallerDep,
    facilitator_id: FacilitatorId,
    body: FacilitatorUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> FacilitatorOut:
    """Change a facilitator (`If-Match` with its `ETag`), e.g. deactivate one who left."""
    facilitator = await facilitators.update_facilitator(
        session, caller, facilitator_id, body, if_match=parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(facilitator.version)
    return facilitators.present_facilitator(facilitator)
