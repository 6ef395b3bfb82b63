from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.deps import CallerDep, IfMatch, SessionDep, etag, parse_if_match
from api.problems import problem_responses
from api.rest.params import Cursor, Limit
from schemas.common import Page
from schemas.programs import ProgramCreate, ProgramOut, ProgramUpdate
from service.programs import service as programs

router = APIRouter(
    prefix="/api/v1/programs", tags=["programs"], responses=problem_responses(401, 422)
)

CodePath = Annotated[str, Path(max_length=20, examples=["PKH"])]


@router.get("", operation_id="listPrograms", response_model=Page[ProgramOut])
async def list_programs(
    session: SessionDep, caller: CallerDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[ProgramOut]:
    """The programs this client can see: the national ones (`PKH`, `BPNT`, `PK3E`, `KUBE`, ...)
    and the local programs of its own region, ordered by code."""
    page = await programs.list_programs(session, caller, limit=limit, cursor=cursor)
    return Page[ProgramOut](
        items=[programs.present_program(item) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{code}",
    operation_id="getProgram",
    response_model=ProgramOut,
    responses=problem_responses(404),
)
async def get_program(
    session: SessionDep, caller: CallerDep, code: CodePath, response: Response
) -> ProgramOut:
    """One program. The `ETag` header carries its version, for a later `PATCH`."""
    program = await programs.get_program(session, caller, code)
    response.headers["ETag"] = etag(program.version)
    return programs.present_program(program)


@router.post(
    "",
    operation_id="createProgram",
    response_model=ProgramOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 409),
)
async def create_program(
    session: SessionDep, caller: CallerDep, body: ProgramCreate, response: Response
) -> ProgramOut:
    """Add a program. Needs `programs:write`.

    A national program (no region) can only be added by a national client; a provincial program
    needs a province code and a district program a regency code, inside the client's region.
    """
    program = await programs.create_program(session, caller, body)
    response.headers["ETag"] = etag(program.version)
    response.headers["Location"] = f"/api/v1/programs/{program.code}"
    return programs.present_program(program)


@router.patch(
    "/{code}",
    operation_id="updateProgram",
    response_model=ProgramOut,
    responses=problem_responses(403, 404, 412, 428),
)
async def update_program(
    session: SessionDep,
    caller: CallerDep,
    code: CodePath,
    body: ProgramUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> ProgramOut:
    """Change some fields of a program. Needs `programs:write` and `If-Match` with the `ETag`
    you read: a stale version answers 412 (someone changed it meanwhile), none answers 428.
    The answer carries the new `ETag`."""
    program = await programs.update_program(
        session, caller, code, body, if_match=parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(program.version)
    return programs.present_program(program)
