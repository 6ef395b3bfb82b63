"""Reference sets the KPM rules check against, without a query per row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.programs.tables import Program
from service.regions.tables import Region

_village_codes: frozenset[str] | None = None


async def village_codes(session: AsyncSession) -> frozenset[str]:
    """All village codes (83,762), loaded once per process: the region tree is reference data
    that only changes with a new release of the service."""
    global _village_codes
    if _village_codes is None:
        rows = await session.scalars(select(col(Region.code)).where(col(Region.level) == "village"))
        _village_codes = frozenset(rows)
    return _village_codes


async def program_codes(session: AsyncSession) -> frozenset[str]:
    return frozenset(await session.scalars(select(col(Program.code))))
