"""What the stories share: the demo's caller, region look-ups and the bulk path for families."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.access import Caller, within
from service.auth.scopes import ALL_SCOPES
from service.demo.roll import SyntheticFamily, write_import_csv
from service.kpm import imports
from service.kpm.importer import run_import
from service.kpm.tables import Family, ImportJob
from service.regions.tables import Region

DEMO_ACTOR = "demo data"

Sessions = async_sessionmaker[AsyncSession]


def demo_caller() -> Caller:
    """National, every scope; every record it writes is audited as ``demo data``."""
    return Caller(
        client_id=None, name=DEMO_ACTOR, scopes=ALL_SCOPES, region_code=None, is_operator=True
    )


async def villages_of(session: AsyncSession, *districts: str) -> list[str]:
    query = select(col(Region.code)).where(
        col(Region.level) == "village", col(Region.parent_code).in_(districts)
    )
    return list(await session.scalars(query.order_by(col(Region.code))))


async def districts_of(session: AsyncSession, regency: str) -> list[str]:
    query = select(col(Region.code)).where(col(Region.parent_code) == regency)
    return list(await session.scalars(query.order_by(col(Region.code))))


async def import_families(sessions: Sessions, families: Sequence[SyntheticFamily]) -> ImportJob:
    """Through the bulk importer, as a district office would load its roll."""
    with tempfile.TemporaryDirectory(prefix="dinsos-demo-") as folder:
        path = Path(folder) / "roll.csv"
        write_import_csv(families, path)
        async with sessions() as session, session.begin():
            job = await imports.create_job(session, demo_caller(), path, "csv", path.stat().st_size)
        done = await run_import(sessions, demo_caller(), job.id)
    if done.families_refused:
        raise RuntimeError(f"demo import refused {done.families_refused} families")
    return done


async def family_ids(session: AsyncSession, region: str) -> list[uuid.UUID]:
    """Live families of a region in a stable order (by No KK)."""
    query = (
        select(col(Family.id))
        .where(within(col(Family.village_code), region), col(Family.archived_at).is_(None))
        .order_by(col(Family.no_kk))
    )
    return list(await session.scalars(query))
