"""``dinsos demo`` and the first start of an empty embedded database load the field stories once;
the audit trail remembers that they were loaded (entries by the ``demo data`` actor)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import exists, select
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.demo import families, groups
from service.demo.common import DEMO_ACTOR, Sessions
from service.demo.roll import RollMaker
from service.kpm.tables import Family

log = logging.getLogger(__name__)

Story = Callable[[Sessions, RollMaker], Awaitable[None]]

STORIES: list[tuple[str, Story]] = [
    ("Kabupaten Mukomuko: PKH and BPNT families, facilitators", families.mukomuko),
    ("Kota Pasuruan: field verification of 4,011 listed people", families.pasuruan),
    ("Kabupaten Klaten: PKH graduation against facilitator targets", families.klaten),
    ("Kabupaten Klaten: 5 training days of at most 60", groups.klaten_trainings),
    ("Kabupaten Tegal, PK3E 2023: 298 groups in 25 villages, trainings", groups.tegal_pk3e),
    ("Kabupaten Tegal, KUBE 2026: 9 grants of Rp20 million", groups.tegal_kube_2026),
]


async def demo_loaded(sessions: Sessions) -> bool:
    async with sessions() as session:
        return bool(
            await session.scalar(select(exists().where(col(AuditEntry.actor) == DEMO_ACTOR)))
        )


async def database_is_empty(sessions: Sessions) -> bool:
    async with sessions() as session:
        return not await session.scalar(select(exists().where(col(Family.id).is_not(None))))


async def load_demo(sessions: Sessions, report: Callable[[str], None] = log.info) -> bool:
    """Load every story unless the demo was loaded before; answers whether it loaded now."""
    if await demo_loaded(sessions):
        report("Demo data already loaded.")
        return False
    roll = RollMaker(seed=2023)
    for title, story in STORIES:
        started = time.perf_counter()
        await story(sessions, roll)
        report(f"{title} ({time.perf_counter() - started:.1f} s)")
    return True
