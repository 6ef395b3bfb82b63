"""Resolvers of the KUBE fields: parse, call the same service functions as REST, render."""

from __future__ import annotations

import dataclasses
import uuid

from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments, sent_fields
from api.graphql.kube_types import (
    GrantReport,
    KubeGrant,
    KubeGrantCreateInput,
    KubeGrantFilterInput,
    KubeGrantPage,
    KubeGrantReportInput,
    KubeGrantUpdateInput,
    KubeGroup,
    KubeGroupCreateInput,
    KubeGroupFilterInput,
    KubeGroupPage,
    KubeGroupUpdateInput,
    KubeMemberInput,
)
from schemas.filters import KubeGroupListArguments, ListArguments
from schemas.kube import (
    GrantCreate,
    GrantReportIn,
    GrantTransitionIn,
    GrantUpdate,
    KubeGroupCreate,
    KubeGroupUpdate,
    KubeMemberIn,
    KubeMemberRole,
)
from schemas.kube import KubeTransitionIn as GroupTransitionIn
from service.kube import grants, groups, members, reports

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


async def update_kube_group(
    info: GqlInfo, group_id: uuid.UUID, expected_version: int, input: KubeGroupUpdateInput
) -> KubeGroup:
    body = KubeGroupUpdate.model_validate(sent_fields(input))
    record = await groups.update_group(
        info.context.session, info.context.caller, group_id, body, if_match=expected_version
    )
    return KubeGroup.from_record(record.group)


async def change_kube_member_role(
    info: GqlInfo,
    group_id: uuid.UUID,
    family_id: uuid.UUID,
    role: str,
    expected_version: int | None = None,
) -> KubeGroup:
    body = KubeMemberRole.model_validate({"role": role})
    record = await members.change_role(
        info.context.session,
        info.context.caller,
        group_id,
        family_id,
        body,
        if_match=expected_version,
    )
    return KubeGroup.from_record(record.group)


async def remove_kube_member(
    info: GqlInfo,
    group_id: uuid.UUID,
    family_id: uuid.UUID,
    expected_version: int | None = None,
) -> KubeGroup:
    record = await members.remove_member(
        info.context.session, info.context.caller, group_id, family_id, if_match=expected_version
    )
    return KubeGroup.from_record(record.group)


async def update_kube_grant(
    info: GqlInfo, grant_id: uuid.UUID, expected_version: int, input: KubeGrantUpdateInput
) -> KubeGrant:
    body = GrantUpdate.model_validate(sent_fields(input))
    grant = await grants.update_grant(
        info.context.session, info.context.caller, grant_id, body, if_match=expected_version
    )
    return KubeGrant.from_record(grant)


async def add_kube_grant_report(
    info: GqlInfo, grant_id: uuid.UUID, input: KubeGrantReportInput
) -> GrantReport:
    body = GrantReportIn.model_validate(dataclasses.asdict(input))
    report = await reports.add_report(info.context.session, info.context.caller, grant_id, body)
    return GrantReport.from_record(report)
