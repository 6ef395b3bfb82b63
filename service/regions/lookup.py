"""Regions by code, many at once: for callers that collect codes first and look them up in one
query (the GraphQL loader of parent and owning regions). Regions are public reference data, so no
caller scope applies (see service/regions/service.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.regions.tables import Region


async def regions_by_code(session: AsyncSession, codes: Sequence[str]) -> dict[str, Region]:
    """The known regions among ``codes`` (dotted), by code; unknown codes are left out."""
    if not codes:
        return {}
    rows = await session.scalars(select(Region).where(col(Region.code).in_(codes)))
    return {row.code: row for row in rows}
