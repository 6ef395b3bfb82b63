"""Region look-ups. Regions are public reference data: every authenticated caller may read the
whole tree (a village system needs the names of the regions around it), so no region scope
applies here; the scope applies to the records that lie in regions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.database import OneStatement
from service.errors import NotFound
from service.lists import name_contains, page_by_column
from service.pagination import DEFAULT_LIMIT, Page, check_limit
from service.regions.codes import ancestors_of, normalize_region_code
from service.regions.tables import Region


@dataclass
class RegionWithParents:
    region: Region
    parents: list[Region]


async def get_region(session: AsyncSession, raw_code: str) -> RegionWithParents:
    code = normalize_region_code(raw_code, field="code")
    wanted = [*ancestors_of(code), code]
    rows = (await session.scalars(select(Region).where(col(Region.code).in_(wanted)))).all()
    by_code = {row.code: row for row in rows}
    if code not in by_code:
        raise NotFound.of("region")
    return RegionWithParents(
        region=by_code[code], parents=[by_code[c] for c in ancestors_of(code) if c in by_code]
    )


# The region and the chain above it, as one statement: a read of one statement sees one snapshot
# and needs no transaction around it.
_REGION_CHAIN = "SELECT code, name, level, parent_code FROM region WHERE code = ANY($1::text[])"


async def read_region(statements: OneStatement, raw_code: str) -> dict[str, object]:
    """One region with its parents (province first) as ``RegionOut`` shows it, in one round
    trip: ``get_region`` for the hot path of a read by code."""
    code = normalize_region_code(raw_code, field="code")
    chain = [*ancestors_of(code), code]
    async with statements() as connection:
        rows = await connection.fetch(_REGION_CHAIN, chain)
    by_code = {row["code"]: row for row in rows}
    found = by_code.get(code)
    if found is None:
        raise NotFound.of("region")
    return {
        "code": found["code"],
        "name": found["name"],
        "level": found["level"],
        "parent_code": found["parent_code"],
        "parents": [
            {"code": parent, "name": by_code[parent]["name"], "level": by_code[parent]["level"]}
            for parent in chain[:-1]
            if parent in by_code
        ],
    }


async def regions_exist(session: AsyncSession, codes: set[str]) -> set[str]:
    """Which of ``codes`` (dotted) are known regions."""
    if not codes:
        return set()
    found = await session.scalars(select(col(Region.code)).where(col(Region.code).in_(codes)))
    return set(found)


async def list_regions(
    session: AsyncSession,
    *,
    parent_code: str | None = None,
    level: str | None = None,
    name: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Region]:
    """Regions ordered by code. With no filter: the provinces."""
    check_limit(limit)
    query = select(Region)
    if parent_code is not None:
        parent = normalize_region_code(parent_code, field="parent_code")
        query = query.where(col(Region.parent_code) == parent)
    if level is not None:
        query = query.where(col(Region.level) == level)
    if name is not None:
        query = query.where(name_contains(col(Region.name), name))
    if parent_code is None and level is None and name is None:
        query = query.where(col(Region.parent_code).is_(None))
    return await page_by_column(session, query, col(Region.code), limit=limit, cursor=cursor)
