"""Import jobs: started by an upload or the command line, read back by the client that started
them. The file is kept in the database (``kpm_import_chunk``), so that any process can run the
job or resume it (``import_worker``). The work itself is in ``importer``."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterable
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from schemas.kpm import ImportRefusalOut
from service.access import Caller
from service.database_faults import DatabaseUnreachable
from service.errors import ContentTooLarge, FieldError, NotFound, ValidationFailed
from service.journal import record_reads
from service.kpm.identity import mask
from service.kpm.import_files import check_header
from service.kpm.tables import ImportChunk, ImportJob, ImportRefusal
from service.kpm.views import PII_SCOPE
from service.lists import page_by_column
from service.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
)

log = logging.getLogger(__name__)

FORMATS = ("csv", "ndjson")

# Pieces of the stored file: large enough that a 200 MB upload is 200 rows, small enough that
# neither the upload nor the import holds more than a few of them in memory.
CHUNK_BYTES = 1 << 20

# NOTIFY'd when a job is queued, so the import workers (``import_worker``) wake at once.
CHANNEL = "kpm_import"


def check_format(file_format: str) -> str:
    if file_format not in FORMATS:
        raise ValidationFailed(
            errors=[FieldError("format", "invalid_value", "format is csv or ndjson.")]
        )
    return file_format


def caller_of(job: ImportJob) -> Caller:
    """The caller a job acts for, as it was at the upload, wherever the job runs or resumes."""
    return Caller(
        client_id=job.client_id,
        name=job.actor,
        scopes=frozenset(job.scopes),
        region_code=job.region_code,
        request_id=job.request_id,
        is_operator=job.by_operator,
    )


def _new_job(caller: Caller, file_format: str, status: str) -> ImportJob:
    return ImportJob(
        client_id=caller.client_id,
        actor=caller.name,
        region_code=caller.region_code,
        format=check_format(file_format),
        status=status,
        scopes=sorted(caller.scopes),
        request_id=caller.request_id,
        by_operator=caller.is_operator,
    )


async def _add_chunk(session: AsyncSession, job_id: uuid.UUID, position: int, data: bytes) -> None:
    await session.execute(insert(ImportChunk).values(job_id=job_id, position=position, data=data))


async def _notify_queued(session: AsyncSession, job_id: uuid.UUID) -> None:
    await session.execute(select(func.pg_notify(CHANNEL, str(job_id))))


async def create_job(
    session: AsyncSession, caller: Caller, path: Path, file_format: str, size: int
) -> ImportJob:
    """A queued job for a file on this machine (the command line, the demo), stored in the
    database in the session's transaction, after its header was checked."""
    caller.require("kpm:write")
    job = _new_job(caller, file_format, "queued")
    job.bytes_total = size
    with path.open("rb") as handle:
        first = handle.read(CHUNK_BYTES)
        check_header(first, file_format)
        session.add(job)
        await session.flush()
        position = 0
        while first:
            await _add_chunk(session, job.id, position, first)
            position += 1
            first = handle.read(CHUNK_BYTES)
    await _notify_queued(session, job.id)
    return job


async def receive_upload(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    body: AsyncIterable[bytes],
    file_format: str,
    max_bytes: int,
) -> ImportJob:
    """Store an upload as it arrives and queue its job; the job exists for nobody until the
    last byte is stored.

    Each piece is committed in a short transaction of its own: one transaction for the whole
    upload would hold the change feed's horizon back for as long as a slow client sends. So the
    job is written first as ``uploading`` (invisible to ``get_job``, never claimed) and turns
    ``queued`` at the end. When the upload fails (too large, no body, a bad header, the client
    gone), the job and its pieces are deleted before the error goes on; when the process dies
    mid-upload, an import worker deletes them once they are idle for
    ``import_upload_idle_seconds`` (``import_worker.discard_abandoned_uploads``)."""
    caller.require("kpm:write")
    job = _new_job(caller, file_format, "uploading")
    async with sessions() as session, session.begin():
        session.add(job)
    try:
        buffer = bytearray()
        position = size = 0
        async for piece in body:
            size += len(piece)
            if size > max_bytes:
                raise ContentTooLarge(f"Uploads are limited to {max_bytes // 1_000_000} MB.")
            buffer += piece
            if len(buffer) >= CHUNK_BYTES:
                if position == 0:
                    check_header(bytes(buffer), file_format)
                await _store_chunk(sessions, job.id, position, bytes(buffer))
                position += 1
                buffer.clear()
        if size == 0:
            # No body is no roll: refuse it rather than queue a job that imports nothing.
            raise ValidationFailed(
                errors=[FieldError("body", "body_required", "Send the file as the request body.")]
            )
        if buffer:
            if position == 0:
                check_header(bytes(buffer), file_format)
            await _store_chunk(sessions, job.id, position, bytes(buffer))
        return await _queue(sessions, job.id, size)
    except BaseException:
        # Also when cancelled (the client went away): nothing of the upload stays behind.
        await asyncio.shield(_discard(sessions, job.id))
        raise


async def _store_chunk(
    sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID, position: int, data: bytes
) -> None:
    try:
        async with sessions() as session, session.begin():
            await _add_chunk(session, job_id, position, data)
    except IntegrityError as error:
        # The job is gone: deleted as abandoned while this process could not write (see
        # ``_queue``). The client sends the file again.
        raise DatabaseUnreachable("the upload was lost") from error


async def _queue(
    sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID, size: int
) -> ImportJob:
    async with sessions() as session, session.begin():
        job = await session.get(ImportJob, job_id, with_for_update=True)
        if job is None or job.status != "uploading":
            # Deleted as abandoned while this process could not write (the database away, or
            # the client silent, longer than ``import_upload_idle_seconds``): the client sends
            # the file again.
            raise DatabaseUnreachable("the upload was lost")
        job.status = "queued"
        job.bytes_total = size
        await _notify_queued(session, job_id)
        await session.flush()
        return job


async def _discard(sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> None:
    try:
        async with sessions() as session, session.begin():
            await session.execute(
                delete(ImportJob).where(
                    col(ImportJob.id) == job_id, col(ImportJob.status) == "uploading"
                )
            )
    except Exception:
        # The database is away: the import workers delete the abandoned upload later.
        log.warning("an abandoned upload was left for the import workers to delete")


async def get_job(session: AsyncSession, caller: Caller, job_id: uuid.UUID) -> ImportJob:
    """A job is seen only by the client that started it (its report names people)."""
    caller.require("kpm:read")
    job = await session.get(ImportJob, job_id)
    if (
        job is None
        or job.status == "uploading"
        or (job.client_id != caller.client_id and not caller.is_operator)
    ):
        raise NotFound.of("import")
    return job


async def list_refusals(
    session: AsyncSession,
    caller: Caller,
    job_id: uuid.UUID,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[ImportRefusal]:
    job = await get_job(session, caller, job_id)
    check_limit(limit)
    query = select(ImportRefusal).where(col(ImportRefusal.job_id) == job.id)
    page: Page[ImportRefusal] = await page_by_column(
        session, query, col(ImportRefusal.id), limit=limit, cursor=cursor or None, convert=int
    )
    if page.items and caller.has(PII_SCOPE):  # the refusals show NIK and No KK unmasked
        await record_reads(session, caller, "kpm_import", [(job.id, job.region_code)])
    return page


def authorize(caller: Caller) -> None:
    """Checked before a byte of the upload is stored."""
    caller.require("kpm:write")


def present_refusal(refusal: ImportRefusal, caller: Caller) -> ImportRefusalOut:
    unmasked = caller.has(PII_SCOPE)
    return ImportRefusalOut(
        line=refusal.line,
        lines=refusal.lines,
        no_kk=refusal.no_kk if unmasked else mask(refusal.no_kk) or "",
        nik=refusal.nik if unmasked else mask(refusal.nik),
        field=refusal.field,
        code=refusal.code,
        message=refusal.message,
    )
