from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from api.deps import CallerDep, IfMatch, OptionalIfMatch, SessionDep, etag, parse_if_match
from api.exports import PAGE_SIZE, ExportFormat, export_list, export_responses, joined, table
from api.problems import problem_responses
from api.rest.params import Cursor, Limit, UpdatedSince
from schemas.common import Page
from schemas.filters import NameSearch, ProgramCodeFilter
from schemas.kube import (
    KubeGroupCreate,
    KubeGroupOut,
    KubeGroupUpdate,
    KubeMemberIn,
    KubeMemberRole,
    KubeStatus,
    KubeTransitionIn,
)
from service.kube import groups, members
from service.kube.views import GroupRecord, present_group

router = APIRouter(prefix="/api/v1/kube", tags=["kube"], responses=problem_responses(401, 403, 422))

GroupId = Annotated[uuid.UUID, Path(description="The group's id.")]
FamilyId = Annotated[uuid.UUID, Path(description="The member family's id.")]


def group_filters(
    region: Annotated[
        str | None, Query(description="Region code prefix: groups in this region.")
    ] = None,
    village_code: Annotated[str | None, Query()] = None,
    group_status: Annotated[KubeStatus | None, Query(alias="status")] = None,
    program: Annotated[ProgramCodeFilter | None, Query()] = None,
    updated_since: UpdatedSince = None,
    name: Annotated[NameSearch | None, Query(description="Part of the group's name.")] = None,
) -> groups.GroupFilters:
    return groups.GroupFilters(
        region=region,
        village_code=village_code,
        status=group_status.value if group_status else None,
        program=program,
        updated_since=updated_since,
        name=name,
    )


FiltersDep = Annotated[groups.GroupFilters, Depends(group_filters)]

COLUMNS = table(
    KubeGroupOut,
    member_count=lambda group: len(group.members),
    members=lambda group: joined(
        [f"{member.family_id}:{member.role.value}" for member in group.members]
    ),
)


def _group_response(record: GroupRecord, response: Response) -> KubeGroupOut:
    response.headers["ETag"] = etag(record.group.version)
    return present_group(record)


@router.get("", operation_id="listKubeGroups", response_model=Page[KubeGroupOut])
async def list_groups(
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[KubeGroupOut]:
    """KUBE groups in the client's region with their member families, ordered by last change
    (so `updated_since` plus `next_cursor` is an incremental sync). Needs `kube:read`."""
    page = await groups.list_groups(session, caller, filters, limit=limit, cursor=cursor)
    return Page[KubeGroupOut](
        items=[present_group(record) for record in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/export",
    operation_id="exportKubeGroups",
    response_class=StreamingResponse,
    responses=export_responses("The groups, one line per group."),
)
async def export_groups(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    filters: FiltersDep,
    file_format: ExportFormat = "csv",
) -> StreamingResponse:
    """The list's groups (same filters, same order) as a file, streamed: one line per group,
    `member_count` and `members` (`family_id:role`, separated by `;`). Needs `kube:read`."""
    return await export_list(
        request,
        session,
        file_format,
        "kube",
        COLUMNS,
        lambda session, cursor: groups.list_groups(
            session, caller, filters, limit=PAGE_SIZE, cursor=cursor
        ),
        present_group,
    )


@router.post(
    "",
    operation_id="createKubeGroup",
    response_model=KubeGroupOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_group(
    session: SessionDep, caller: CallerDep, body: KubeGroupCreate, response: Response
) -> KubeGroupOut:
    """Form a KUBE group in a village of your region; it starts `forming`. Founding members may
    be listed (family id and role: `ketua`, `sekretaris`, `bendahara`, `anggota`), at most the
    program's group size (KUBE: 10). Each family must be one you can see, live, and lie in the
    same regency as the group's village. Needs `kube:write`."""
    record = await groups.create_group(session, caller, body)
    response.headers["Location"] = f"/api/v1/kube/{record.group.id}"
    return _group_response(record, response)


@router.get(
    "/{group_id:uuid}",
    operation_id="getKubeGroup",
    response_model=KubeGroupOut,
    responses=problem_responses(404),
)
async def get_group(
    session: SessionDep, caller: CallerDep, group_id: GroupId, response: Response
) -> KubeGroupOut:
    """One group with its member families. The `ETag` is the group's version."""
    return _group_response(await groups.read_group(session, caller, group_id), response)


@router.patch(
    "/{group_id:uuid}",
    operation_id="updateKubeGroup",
    response_model=KubeGroupOut,
    responses=problem_responses(404, 409, 412, 428),
)
async def update_group(
    session: SessionDep,
    caller: CallerDep,
    group_id: GroupId,
    body: KubeGroupUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> KubeGroupOut:
    """Change the group's name, business category, facilitator, or (while `forming`, with all
    members in the same regency) its village. Needs `If-Match`."""
    record = await groups.update_group(
        session, caller, group_id, body, if_match=parse_if_match(if_match)
    )
    return _group_response(record, response)


@router.post(
    "/{group_id}/transitions",
    operation_id="changeKubeGroupStatus",
    response_model=KubeGroupOut,
    responses=problem_responses(404, 409, 412),
)
async def change_status(
    session: SessionDep,
    caller: CallerDep,
    group_id: GroupId,
    body: KubeTransitionIn,
    response: Response,
    if_match: OptionalIfMatch = None,
) -> KubeGroupOut:
    """Move the group to another status. Allowed: forming → active | dissolved;
    active → inactive | dissolved; inactive → active | dissolved. Any other move is a 409
    `invalid_transition`.

    Activation needs a member count within the program's group size (KUBE: 5 to 10; else 409
    `group_size`), a `ketua` (409 `ketua_required`), and no member family in another active
    KUBE (409 `family_in_active_kube`; a family belongs to at most one active KUBE).
    Dissolving needs the group's grant closed, rejected or cancelled (409 `open_grant`).
    `If-Match` is optional here: when sent, a stale version gets 412."""
    record = await groups.change_status(
        session, caller, group_id, body, if_match=parse_if_match(if_match)
    )
    return _group_response(record, response)


@router.post(
    "/{group_id}/members",
    operation_id="addKubeMember",
    response_model=KubeGroupOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409, 412),
)
async def add_member(
    session: SessionDep,
    caller: CallerDep,
    group_id: GroupId,
    body: KubeMemberIn,
    response: Response,
    if_match: OptionalIfMatch = None,
) -> KubeGroupOut:
    """Add a family with a role; answers the group as it is now. The family must be one you can
    see, live, and in the group's regency (422 naming `family_id` otherwise). `ketua`,
    `sekretaris` and `bendahara` are single seats: giving one to this family makes its previous
    holder `anggota`. Refused with 409: `already_member`, `group_full` (the program's maximum),
    `family_in_active_kube` (when the group is active and the family is in another active one),
    `group_dissolved`. `If-Match` is optional."""
    record = await members.add_member(
        session, caller, group_id, body, if_match=parse_if_match(if_match)
    )
    return _group_response(record, response)


@router.patch(
    "/{group_id}/members/{family_id}",
    operation_id="changeKubeMemberRole",
    response_model=KubeGroupOut,
    responses=problem_responses(404, 409, 412),
)
async def change_member_role(
    session: SessionDep,
    caller: CallerDep,
    group_id: GroupId,
    family_id: FamilyId,
    body: KubeMemberRole,
    response: Response,
    if_match: OptionalIfMatch = None,
) -> KubeGroupOut:
    """Give a member another role. An officer seat moves from its holder, who becomes
    `anggota`; that is how the `ketua` of an active group hands over (an active group cannot
    take the seat away without giving it to someone: 409 `ketua_required`)."""
    record = await members.change_role(
        session, caller, group_id, family_id, body, if_match=parse_if_match(if_match)
    )
    return _group_response(record, response)


@router.delete(
    "/{group_id}/members/{family_id}",
    operation_id="removeKubeMember",
    response_model=KubeGroupOut,
    responses=problem_responses(404, 409, 412),
)
async def remove_member(
    session: SessionDep,
    caller: CallerDep,
    group_id: GroupId,
    family_id: FamilyId,
    response: Response,
    if_match: OptionalIfMatch = None,
) -> KubeGroupOut:
    """Take a family out of the group; answers the group as it is now. An active group keeps
    its `ketua` and the program's minimum size (409 `ketua_required` / `group_size`)."""
    record = await members.remove_member(
        session, caller, group_id, family_id, if_match=parse_if_match(if_match)
    )
    return _group_response(record, response)
