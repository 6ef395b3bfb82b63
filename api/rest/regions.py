from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import (
    CallerDep,
    SessionDep,
    StandaloneCallerDep,
    one_statement,
    standalone_caller_of,
)
from api.problems import problem_responses
from api.rest.params import Cursor, Limit
from schemas.common import Page
from schemas.filters import NameSearch
from schemas.regions import RegionListItem, RegionOut
from service.regions import service as regions
from service.regions.codes import RegionLevel

router = APIRouter(
    prefix="/api/v1/regions", tags=["regions"], responses=problem_responses(401, 422)
)

CodePath = Annotated[
    str,
    Path(description="Region code, dotted (`33.28.02`) or not (`332802`).", examples=["33.28"]),
]


@router.get("", operation_id="listRegions", response_model=Page[RegionListItem])
async def list_regions(
    session: SessionDep,
    _caller: CallerDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    parent_code: Annotated[str | None, Query(description="Children of this region.")] = None,
    level: Annotated[RegionLevel | None, Query()] = None,
    name: Annotated[
        NameSearch | None, Query(description="Case-insensitive part of the name.")
    ] = None,
) -> Page[RegionListItem]:
    """Regions of the administrative tree, ordered by code.

    With no filter you get the 38 provinces. `parent_code` lists a region's children,
    `level` restricts to provinces, regencies, districts or villages, `name` searches names.
    Regions are reference data: every client may read all of them.
    """
    page = await regions.list_regions(
        session,
        parent_code=parent_code,
        level=level.value if level else None,
        name=name,
        limit=limit,
        cursor=cursor,
    )
    return Page[RegionListItem](
        items=[RegionListItem.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{code}",
    operation_id="getRegion",
    response_model=RegionOut,
    responses=problem_responses(404),
)
async def get_region(request: Request, _caller: StandaloneCallerDep, code: CodePath) -> Response:
    """One region with the chain of regions above it (province first). Codes are always
    returned dotted."""
    # The hot path of a village system's look-ups: one statement, written out once as JSON.
    found = await regions.read_region(one_statement(request), code)
    return Response(orjson.dumps(found), media_type="application/json")


async def serve_region(request: Request) -> Response:
    """``get_region`` as a hot route (``api.hot_routes``): the router's walk and FastAPI's
    dependency resolution skipped, the same endpoint called."""
    caller = await standalone_caller_of(request)
    return await get_region(request, caller, request.path_params["code"])


@router.get(
    "/{code}/children",
    operation_id="listRegionChildren",
    response_model=Page[RegionListItem],
    responses=problem_responses(404),
)
async def list_region_children(
    session: SessionDep,
    _caller: CallerDep,
    code: CodePath,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[RegionListItem]:
    """The regions directly below a region: a province's regencies, a district's villages."""
    parent = await regions.get_region(session, code)
    page = await regions.list_regions(
        session, parent_code=parent.region.code, limit=limit, cursor=cursor
    )
    return Page[RegionListItem](
        items=[RegionListItem.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
    )
