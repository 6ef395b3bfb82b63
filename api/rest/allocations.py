from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from api.deps import CallerDep, IfMatch, SessionDep, etag, parse_if_match
from api.exports import PAGE_SIZE, ExportFormat, export_list, export_responses, table
from api.problems import problem_responses
from api.rest.params import Cursor, Limit, UpdatedSince
from schemas.allocations import AllocationCreate, AllocationOut, AllocationUpdate, FundingSource
from schemas.common import Page
from schemas.filters import FiscalYearFilter, ProgramCodeFilter
from service.allocations import service as allocations
from service.allocations.views import present_allocation

router = APIRouter(
    prefix="/api/v1/allocations",
    tags=["allocations"],
    responses=problem_responses(401, 403, 422),
)

AllocationId = Annotated[uuid.UUID, Path(description="The allocation's id.")]


def allocation_filters(
    program: Annotated[ProgramCodeFilter | None, Query(examples=["PK3E"])] = None,
    fiscal_year: Annotated[FiscalYearFilter | None, Query()] = None,
    funding_source: Annotated[FundingSource | None, Query()] = None,
    region: Annotated[
        str | None, Query(description="Region code prefix: allocations in this region.")
    ] = None,
    updated_since: UpdatedSince = None,
) -> allocations.AllocationFilters:
    return allocations.AllocationFilters(
        program=program,
        fiscal_year=fiscal_year,
        funding_source=funding_source.value if funding_source else None,
        region=region,
        updated_since=updated_since,
    )


FiltersDep = Annotated[allocations.AllocationFilters, Depends(allocation_filters)]
COLUMNS = table(AllocationOut)


@router.get("", operation_id="listAllocations", response_model=Page[AllocationOut])
async def list_allocations(
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AllocationOut]:
    """Budget allocations in the client's region, with what is committed, confirmed and
    remaining, ordered by last change. Needs `allocations:read`."""
    page = await allocations.list_allocations(session, caller, filters, limit=limit, cursor=cursor)
    return Page[AllocationOut](
        items=[present_allocation(item) for item in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/export",
    operation_id="exportAllocations",
    response_class=StreamingResponse,
    responses=export_responses("The allocations, one line each."),
)
async def export_allocations(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    file_format: ExportFormat = "csv",
) -> StreamingResponse:
    """The list's allocations (same filters, same order) as a file, streamed, with what is
    committed, confirmed and remaining. Needs `allocations:read`."""
    return await export_list(
        request,
        session,
        file_format,
        "allocations",
        COLUMNS,
        lambda session, cursor: allocations.list_allocations(
            session, caller, filters, limit=PAGE_SIZE, cursor=cursor
        ),
        present_allocation,
    )


@router.post(
    "",
    operation_id="createAllocation",
    response_model=AllocationOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
async def create_allocation(
    session: SessionDep, caller: CallerDep, body: AllocationCreate, response: Response
) -> AllocationOut:
    """Allocate a budget to a province or a regency for one program, fiscal year and funding
    source (`APBN`, `APBD_PROVINSI`, `APBD_KABKOTA`, `LAINNYA`). Amounts are whole rupiah
    (JSON integers). Needs `allocations:write` and the region inside the client's region (403
    otherwise). A local program's allocation must lie in the program's region. A second
    allocation for the same program, year, source and region is a 409 `duplicate_allocation`:
    revise the amount of the first instead."""
    allocation = await allocations.create_allocation(session, caller, body)
    response.headers["ETag"] = etag(allocation.version)
    response.headers["Location"] = f"/api/v1/allocations/{allocation.id}"
    return present_allocation(allocation)


@router.get(
    "/{allocation_id:uuid}",
    operation_id="getAllocation",
    response_model=AllocationOut,
    responses=problem_responses(404),
)
async def get_allocation(
    session: SessionDep, caller: CallerDep, allocation_id: AllocationId, response: Response
) -> AllocationOut:
    """One allocation. `committed` is the money in its disbursements that did not fail and
    were not reversed; `confirmed` the part confirmed as paid; `remaining` what is left for new
    disbursements. The `ETag` is the version, for `PATCH`."""
    allocation = await allocations.get_allocation(session, caller, allocation_id)
    response.headers["ETag"] = etag(allocation.version)
    return present_allocation(allocation)


@router.patch(
    "/{allocation_id:uuid}",
    operation_id="updateAllocation",
    response_model=AllocationOut,
    responses=problem_responses(404, 409, 412, 428),
)
async def update_allocation(
    session: SessionDep,
    caller: CallerDep,
    allocation_id: AllocationId,
    body: AllocationUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> AllocationOut:
    """Revise the amount, fiscal year or funding source (`If-Match` with the `ETag` you read;
    412 when stale, 428 without). The amount cannot go below what is committed already
    (409 `amount_below_committed`). Needs `allocations:write`."""
    allocation = await allocations.update_allocation(
        session, caller, allocation_id, body, if_match=parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(allocation.version)
    return present_allocation(allocation)
