"""Resolvers of the KUBE fields: parse, call the same service functions as REST, render."""

from __future__ import annotations

import dataclasses
import uuid

from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments
from api.graphql.kube_types import (
    KubeGrant,
    KubeGrantCreateInput,
    KubeGrantFilterInput,
    KubeGrantPage,
    KubeGroup,
    KubeGroupCreateInput,
    KubeGroupFilterInput,
    KubeGroupPage,
    KubeMemberInput,
)
from schemas.filters import KubeGroupListArguments, ListArguments
from schemas.kube import GrantCreate, GrantTransitionIn, KubeGroupCreate, KubeMemberIn
from schemas.kube import KubeTransitionIn as GroupTransitionIn
from service.kube import grants, groups, members

GqlInfo = Info[GraphQLContext, None]


async def kube_group(info: GqlInfo, id: uuid.UUID) -> KubeGroup:
    group = await groups.get_group(info.context.session, info.context.caller, id)
    return KubeGroup.from_record(group)


async def kube_groups(
    info: GqlInfo,
    filter: KubeGroupFilterInput | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> KubeGroupPage:
    check_list_arguments(KubeGroupListArguments, filter, cursor=cursor)
    filters = groups.GroupFilters(**dataclasses.asdict(filter)) if filter else groups.GroupFilters()
    page = await groups.find_groups(
        info.context.session, info.context.caller, filters, limit=limit, cursor=cursor
    )
    return KubeGroupPage(
        items=[KubeGroup.from_record(row) for row in page.items], next_cursor=page.next_cursor
    )


async def kube_grant(info: GqlInfo, id: uuid.UUID) -> KubeGrant:
    grant = await grants.get_grant(info.context.session, info.context.caller, id)
    return KubeGrant.from_record(grant)


async def kube_grants(
    info: GqlInfo,
    filter: KubeGrantFilterInput | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> KubeGrantPage:
    check_list_arguments(ListArguments, filter, cursor=cursor)
    filters = grants.GrantFilters(**dataclasses.asdict(filter)) if filter else grants.GrantFilters()
    page = await grants.list_grants(
        info.context.session, info.context.caller, filters, limit=limit, cursor=cursor
    )
    return KubeGrantPage(
        items=[KubeGrant.from_record(row) for row in page.items], next_cursor=page.next_cursor
    )


async def create_kube_group(info: GqlInfo, input: KubeGroupCreateInput) -> KubeGroup:
    body = KubeGroupCreate.model_validate(dataclasses.asdict(input))
    record = await groups.create_group(info.context.session, info.context.caller, body)
    return KubeGroup.from_record(record.group)


async def add_kube_member(
    info: GqlInfo,
    group_id: uuid.UUID,
    input: KubeMemberInput,
    expected_version: int | None = None,
) -> KubeGroup:
    body = KubeMemberIn.model_validate(dataclasses.asdict(input))
    record = await members.add_member(
        info.context.session, info.context.caller, group_id, body, if_match=expected_version
    )
    return KubeGroup.from_record(record.group)


async def change_kube_group_status(
    info: GqlInfo,
    group_id: uuid.UUID,
    to: str,
    note: str | None = None,
    expected_version: int | None = None,
) -> KubeGroup:
    body = GroupTransitionIn.model_validate({"to": to, "note": note})
    record = await groups.change_status(
        info.context.session, info.context.caller, group_id, body, if_match=expected_version
    )
    return KubeGroup.from_record(record.group)


async def create_kube_grant(info: GqlInfo, input: KubeGrantCreateInput) -> KubeGrant:
    body = GrantCreate.model_validate(dataclasses.asdict(input))
    grant = await grants.create_grant(info.context.session, info.context.caller, body)
    return KubeGrant.from_record(grant)


async def transition_kube_grant(
    info: GqlInfo,
    grant_id: uuid.UUID,
    to: str,
    note: str | None = None,
    expected_version: int | None = None,
) -> KubeGrant:
    body = GrantTransitionIn.model_validate({"to": to, "note": note})
    grant = await grants.transition_grant(
        info.context.session, info.context.caller, grant_id, body, if_match=expected_version
    )
    return KubeGrant.from_record(grant)
