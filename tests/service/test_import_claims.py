"""Who runs an import job: one process at a time, by its advisory lock; and should two runs
ever overlap (a lock connection lost while its process lives on), the check in each batch's
transaction stops the one behind, so no family is written twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import col

from bench.gen_kpm import generate
from service.auth.clients import operator
from service.database import async_url, create_session_factory
from service.kpm import imports
from service.kpm.import_worker import job_locks, run_claimed
from service.kpm.importer import BATCH_FAMILIES, LostClaim, run_import
from service.kpm.tables import Family, ImportJob
from tests.conftest import prepared_database

Sessions = async_sessionmaker[AsyncSession]
FAMILIES = 3 * BATCH_FAMILIES


@pytest.fixture
async def own_database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


@pytest.fixture
async def sessions(own_database: str) -> AsyncIterator[Sessions]:
    engine = create_async_engine(async_url(own_database))
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="module")
def roll(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("roll")
    generate(folder, FAMILIES, seed=31)
    return folder / "kpm.csv"


async def _queued(sessions: Sessions, roll: Path) -> ImportJob:
    async with sessions() as session, session.begin():
        return await imports.create_job(session, operator(), roll, "csv", roll.stat().st_size)


async def _families(sessions: Sessions) -> tuple[int, int]:
    async with sessions() as session:
        row = (
            await session.execute(
                select(func.count(), func.count(col(Family.no_kk).distinct())).select_from(Family)
            )
        ).one()
        return int(row[0]), int(row[1])


async def test_two_runs_at_once_write_each_family_once(sessions: Sessions, roll: Path) -> None:
    job = await _queued(sessions, roll)
    outcomes = await asyncio.gather(
        run_import(sessions, operator(), job.id),
        run_import(sessions, operator(), job.id),
        return_exceptions=True,
    )
    finished = [outcome for outcome in outcomes if isinstance(outcome, ImportJob)]
    assert [type(outcome) for outcome in outcomes if outcome not in finished] == [LostClaim]
    [done] = finished
    assert (done.status, done.families_read) == ("done", FAMILIES)
    created = done.families_created
    assert created > FAMILIES * 0.9
    assert await _families(sessions) == (created, created)


async def test_a_job_held_by_one_process_is_not_run_by_another(
    sessions: Sessions, own_database: str, roll: Path
) -> None:
    job = await _queued(sessions, roll)
    async with job_locks(own_database) as holder, job_locks(own_database) as other:
        assert await holder.try_lock(job.id)
        assert await run_claimed(sessions, other, job.id) is None
    # The holder's connection closed: the job is free, and runs to the end.
    async with job_locks(own_database) as taker:
        done = await run_claimed(sessions, taker, job.id)
    assert done is not None
    assert (done.status, done.families_read) == ("done", FAMILIES)
