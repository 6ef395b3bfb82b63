"""Who runs an import job, and what happens when that process dies.

The file of every job is in the database (``kpm_import_chunk``), so any process can run it.
The process that received the upload starts it at once; besides, every process running an
import worker (``dinsos serve`` unless ``DINSOS_IMPORT_WORKER=false``, and ``dinsos worker``)
takes the jobs that nobody runs: queued ones, and running ones whose process died. A job is run
only by the holder of its session-level advisory lock, taken on a connection that never opens a
transaction; the run resumes where the last committed batch left the job (``importer``).

Why an advisory lock, as the webhook dispatcher does (``service/webhooks/locks.py``), and not a
``FOR UPDATE SKIP LOCKED`` claim with a lease: a row lock lives in a transaction, which would
stay open for the whole import (minutes) and hold the change feed's horizon back for every
reader; and a lease needs a heartbeat, an expiry to tune, and still lets a process that was
only paused past its expiry write on. The server releases a session lock the moment the
holder's connection closes, that is when its process dies, so another process takes the job
over at its next look (``import_poll_seconds``), with nothing to expire.

The lock decides who runs; it is not what keeps a resume exact. Each batch's transaction locks
the job's row and commits only if the job still stands where this run left it (``LostClaim``
otherwise), so even two runs at once (a lock connection lost while its process lives on)
cannot write a family twice.

An upload that stops half-way is deleted by the process receiving it; one whose process died
is deleted by a worker once no piece has arrived for ``import_upload_idle_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from service.advisory_locks import SessionLocks
from service.connections import asyncpg_dsn
from service.database import create_engine, create_session_factory
from service.database_faults import is_database_unavailable
from service.kpm.importer import LostClaim, Progress, run_import
from service.kpm.imports import CHANNEL, caller_of
from service.kpm.tables import ImportJob
from service.rate_limits import RateLimits
from service.settings import Settings

log = logging.getLogger(__name__)

# The first key of the two-key advisory lock: this lock family ("KI", kpm import).
LOCK_FAMILY = 0x4B49
# Jobs looked at per pass; the rest at the next.
CLAIMABLE_PER_PASS = 100


class JobLocks(SessionLocks):
    """Advisory locks of import jobs, on one connection of their own that never opens a
    transaction; with ``on_notify``, the same connection LISTENs for queued jobs."""

    def __init__(self, dsn: str, on_notify: Callable[[], None] | None = None) -> None:
        super().__init__(
            dsn,
            family=LOCK_FAMILY,
            application_name="dinsos-imports",
            channels=(CHANNEL,) if on_notify is not None else (),
            on_notify=on_notify,
            lost_message="the import lock connection was lost; its jobs are free for any process",
        )


@contextlib.asynccontextmanager
async def job_locks(database_url: str) -> AsyncIterator[JobLocks]:
    """Locks on a connection of their own for as long as the block runs."""
    locks = JobLocks(asyncpg_dsn(database_url))
    await locks.connect()
    try:
        yield locks
    finally:
        await asyncio.shield(locks.close())


async def run_claimed(
    sessions: async_sessionmaker[AsyncSession],
    locks: JobLocks,
    job_id: uuid.UUID,
    *,
    read_sessions: async_sessionmaker[AsyncSession] | None = None,
    rate_limits: RateLimits | None = None,
    on_progress: Progress | None = None,
) -> ImportJob | None:
    """Run (or resume) the job if this process holds or can take its lock, for the caller
    that started it; None when another process runs it."""
    if not locks.holds(job_id) and not await locks.try_lock(job_id):
        return None
    try:
        async with sessions() as session:
            job = await session.get(ImportJob, job_id)
        if job is None or job.status not in ("queued", "running"):
            return job
        return await run_import(
            sessions,
            caller_of(job),
            job_id,
            read_sessions=read_sessions,
            on_progress=on_progress,
            # An operator's import names regencies without a limit, wherever it resumes.
            rate_limits=None if job.by_operator else rate_limits,
        )
    except LostClaim:
        log.warning("import %s was taken over by another process", job_id)
        return None
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(locks.unlock(job_id))


async def claimable_jobs(sessions: async_sessionmaker[AsyncSession]) -> list[uuid.UUID]:
    """Jobs that may need a runner, oldest first: the lock tells which ones really do."""
    async with sessions() as session:
        found = await session.scalars(
            select(col(ImportJob.id))
            .where(col(ImportJob.status).in_(("queued", "running")))
            .order_by(col(ImportJob.created_at))
            .limit(CLAIMABLE_PER_PASS)
        )
        return list(found)


async def discard_abandoned_uploads(
    sessions: async_sessionmaker[AsyncSession], idle_seconds: float
) -> int:
    """Delete the uploads (jobs still ``uploading``, with their pieces) to which nothing was
    added for ``idle_seconds``: their process died while receiving them."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            text(
                "DELETE FROM kpm_import_job j WHERE j.status = 'uploading'"
                " AND coalesce((SELECT max(c.created_at) FROM kpm_import_chunk c"
                " WHERE c.job_id = j.id), j.created_at) < now() - make_interval(secs => :idle)"
            ),
            {"idle": idle_seconds},
        )
        discarded: int = getattr(result, "rowcount", 0) or 0
    if discarded:
        log.info("deleted %d abandoned import uploads", discarded)
    return discarded


class ImportWorker:
    """Runs the jobs nobody runs, one at a time, until stopped; wakes when a job is queued
    (NOTIFY), and every ``import_poll_seconds`` to find the jobs of processes that died."""

    def __init__(
        self,
        database_url: str,
        settings: Settings,
        *,
        engine: AsyncEngine | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self._settings = settings
        self._own_engine = engine is None
        self._engine = engine or create_engine(
            database_url, settings.model_copy(update={"db_pool_size": 4, "db_max_overflow": 4})
        )
        self._sessions = create_session_factory(self._engine)
        self._rate_limits = rate_limits or RateLimits(settings)
        self._locks = JobLocks(asyncpg_dsn(database_url), on_notify=self._wake_up)
        self._woken = asyncio.Event()
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        failures = 0
        try:
            while not self._stopping.is_set():
                self._woken.clear()
                wait = self._settings.import_poll_seconds
                try:
                    await self._locks.connect()
                    await discard_abandoned_uploads(
                        self._sessions, self._settings.import_upload_idle_seconds
                    )
                    await self._run_claimable()
                    failures = 0
                except Exception as error:
                    failures += 1
                    wait = min(2.0 ** (failures - 1), wait)
                    if is_database_unavailable(error):  # expected to pass: no traceback
                        log.warning(
                            "import worker pass failed (database unavailable: %s); "
                            "trying again in %.0f s",
                            type(error).__name__,
                            wait,
                        )
                    else:
                        log.exception("import worker pass failed; trying again in %.0f s", wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), timeout=wait)
        finally:
            await asyncio.shield(self._close())

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()

    def _wake_up(self) -> None:
        self._woken.set()

    async def _run_claimable(self) -> None:
        for job_id in await claimable_jobs(self._sessions):
            if self._stopping.is_set():
                return
            try:
                await run_claimed(
                    self._sessions, self._locks, job_id, rate_limits=self._rate_limits
                )
            except Exception as error:
                if is_database_unavailable(error):
                    raise  # the job stays running; the whole pass is tried again
                # The job was marked failed by the importer; the others go on.
                log.exception("import %s failed", job_id)

    async def _close(self) -> None:
        await self._locks.close()
        if self._own_engine:
            await self._engine.dispose()


async def run_import_worker(database_url: str, settings: Settings, stop: asyncio.Event) -> None:
    """Run an import worker until ``stop`` is set (for ``dinsos worker``); the job in hand is
    let run for ``shutdown_grace_seconds``, then left for another process to resume."""
    worker = ImportWorker(database_url, settings)
    running = asyncio.create_task(worker.run())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
    await stop_worker(worker, running, settings.shutdown_grace_seconds)
    stopped.cancel()


async def stop_worker(worker: ImportWorker, running: asyncio.Task[None], grace: float) -> None:
    worker.stop()
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(running, timeout=grace)
