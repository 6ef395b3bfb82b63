"""Resolvers of the region fields: parse, call the same service functions as REST, render."""

from __future__ import annotations

from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments
from api.graphql.types import Region, RegionLevel, RegionPage
from schemas.filters import RegionListArguments
from service.regions import service as regions

GqlInfo = Info[GraphQLContext, None]


async def region(info: GqlInfo, code: str) -> Region:
    return await region_of(info.context, code)


async def region_of(context: GraphQLContext, code: str) -> Region:
    """``region``, from the context alone (the prepared reads call it so)."""
    found = await regions.get_region(context.session, code)
    return Region.from_record(found.region)


async def regions_list(
    info: GqlInfo,
    parent_code: str | None = None,
    level: RegionLevel | None = None,
    name: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> RegionPage:
    check_list_arguments(RegionListArguments, name=name, cursor=cursor)
    page = await regions.list_regions(
        info.context.session,
        parent_code=parent_code,
        level=level.value if level else None,
        name=name,
        limit=limit,
        cursor=cursor,
    )
    return RegionPage(
        items=[Region.from_record(item) for item in page.items], next_cursor=page.next_cursor
    )
