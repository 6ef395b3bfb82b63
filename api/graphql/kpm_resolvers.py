"""Resolvers of the KPM (family) fields: parse, call the same service functions as REST, render.
Unmasked NIK and No KK reach only callers with pii:read, and the service audits each such read."""

from __future__ import annotations

import uuid

from strawberry.types import Info

from api.deps import one_statement
from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments
from api.graphql.kpm_types import Family, FamilyCreateInput, FamilyFilterInput, FamilyPage
from schemas.filters import FamilyListArguments
from schemas.kpm import FamilyCreate
from service.kpm import families
from service.kpm.views import present_family

GqlInfo = Info[GraphQLContext, None]


async def family(info: GqlInfo, id: uuid.UUID) -> Family:
    # REST's read of one statement (its audit included): the same answer, the same cost.
    caller = info.context.caller
    assert info.context.request is not None
    record = await families.read_family_at_once(one_statement(info.context.request), caller, id)
    return Family.from_out(present_family(record, caller))


async def families_list(
    info: GqlInfo,
    filter: FamilyFilterInput | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> FamilyPage:
    caller = info.context.caller
    check_list_arguments(FamilyListArguments, filter, cursor=cursor)
    filters = families.FamilyFilters(**vars(filter)) if filter else families.FamilyFilters()
    page = await families.list_families(
        info.context.session, caller, filters, limit=limit, cursor=cursor
    )
    return FamilyPage(
        items=[Family.from_out(present_family(r, caller)) for r in page.items],
        next_cursor=page.next_cursor,
    )


async def create_family(info: GqlInfo, input: FamilyCreateInput) -> Family:
    caller = info.context.caller
    body = FamilyCreate.model_validate(
        {**vars(input), "members": [vars(member) for member in input.members]}
    )
    record = await families.create_family(info.context.session, caller, body)
    return Family.from_out(present_family(record, caller))
