"""Resolvers of the facilitator (pendamping) fields: parse, call the same service functions as
REST, render."""

from __future__ import annotations

import uuid

from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments, sent_fields
from api.graphql.kpm_types import (
    Facilitator,
    FacilitatorCreateInput,
    FacilitatorPage,
    FacilitatorUpdateInput,
)
from schemas.filters import ListArguments
from schemas.kpm import FacilitatorCreate, FacilitatorUpdate
from service.kpm import facilitators

GqlInfo = Info[GraphQLContext, None]


async def facilitator(info: GqlInfo, id: uuid.UUID) -> Facilitator:
    record = await facilitators.get_facilitator(info.context.session, info.context.caller, id)
    return Facilitator.from_out(facilitators.present_facilitator(record))


async def facilitators_list(
    info: GqlInfo,
    region: str | None = None,
    active: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> FacilitatorPage:
    check_list_arguments(ListArguments, cursor=cursor)
    page = await facilitators.list_facilitators(
        info.context.session,
        info.context.caller,
        region=region,
        active=active,
        limit=limit,
        cursor=cursor,
    )
    return FacilitatorPage(
        items=[Facilitator.from_out(facilitators.present_facilitator(f)) for f in page.items],
        next_cursor=page.next_cursor,
    )


async def create_facilitator(info: GqlInfo, input: FacilitatorCreateInput) -> Facilitator:
    body = FacilitatorCreate.model_validate(vars(input))
    record = await facilitators.create_facilitator(info.context.session, info.context.caller, body)
    return Facilitator.from_out(facilitators.present_facilitator(record))


async def update_facilitator(
    info: GqlInfo, id: uuid.UUID, expected_version: int, input: FacilitatorUpdateInput
) -> Facilitator:
    body = FacilitatorUpdate.model_validate(sent_fields(input))
    record = await facilitators.update_facilitator(
        info.context.session, info.context.caller, id, body, if_match=expected_version
    )
    return Facilitator.from_out(facilitators.present_facilitator(record))
