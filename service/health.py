"""Readiness: can we reach the database, and is its schema the one this code expects?"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.migrations import head_revisions


@dataclass(frozen=True)
class Readiness:
    ok: bool
    database: str
    migrations: str


@lru_cache
def _heads() -> frozenset[str]:
    return frozenset(head_revisions())


async def database_readiness(engine: AsyncEngine, timeout: float = 2.0) -> Readiness:
    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            current = {row[0] for row in rows}
    except ProgrammingError:  # no alembic_version table: never migrated
        return Readiness(ok=False, database="ok", migrations="missing")
    except (SQLAlchemyError, OSError, TimeoutError):
        return Readiness(ok=False, database="unreachable", migrations="unknown")
    at_head = current == set(_heads())
    return Readiness(ok=at_head, database="ok", migrations="at_head" if at_head else "behind")
