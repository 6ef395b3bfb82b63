"""Process-level start-up: getting the database ready for the service (which database to use:
``service.database_url``)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.clients import create_client, operator
from service.auth.scopes import ALL_SCOPES
from service.auth.tables import ApiClient
from service.programs.service import seed_programs
from service.regions.loader import load_regions
from service.settings import Settings

log = logging.getLogger(__name__)


async def migrate(database_url: str) -> None:
    # Alembic is imported here, not at the top: ``serve`` and ``demo`` import this module too,
    # and only the commands that migrate should pay for Alembic.
    from service.migrations import upgrade_to_head

    await asyncio.to_thread(upgrade_to_head, database_url)


async def load_reference_data(session: AsyncSession) -> int:
    """Regions and the seeded programs; safe to run on every start."""
    changed = await load_regions(session)
    await seed_programs(session)
    return changed


@dataclass(frozen=True)
class DemoCredentials:
    client_id: str
    client_secret: str


async def ensure_demo_client(session: AsyncSession, settings: Settings) -> DemoCredentials | None:
    """On the embedded default with no client yet: a national client with every scope, so a
    newcomer can press "Authorize" in the docs. Its credentials are kept in the data folder
    (owner-only) and printed at each start. Never done against a configured ``DATABASE_URL``."""
    if not settings.uses_embedded_database or not settings.create_demo_client:
        return None
    stored = settings.data_dir / "demo-client.json"
    if await session.scalar(select(func.count()).select_from(ApiClient)):
        if stored.exists():
            data = json.loads(stored.read_text())
            return DemoCredentials(data["client_id"], data["client_secret"])
        return None
    created = await create_client(
        session, operator(), name="demo (national)", scopes=sorted(ALL_SCOPES), region_code=None
    )
    credentials = DemoCredentials(str(created.client.id), created.secret)
    fd = os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(
            {"client_id": credentials.client_id, "client_secret": credentials.client_secret}, handle
        )
    return credentials
