"""Import jobs: started by an upload or the command line, read back by the client that started
them. The work itself is in ``importer``."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from schemas.kpm import ImportRefusalOut
from service.access import Caller
from service.errors import FieldError, NotFound, ValidationFailed
from service.journal import record_reads
from service.kpm.identity import mask
from service.kpm.import_files import check_header
from service.kpm.tables import ImportJob, ImportRefusal
from service.kpm.views import PII_SCOPE
from service.lists import page_by_column
from service.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
)

FORMATS = ("csv", "ndjson")


def check_format(file_format: str) -> str:
    if file_format not in FORMATS:
        raise ValidationFailed(
            errors=[FieldError("format", "invalid_value", "format is csv or ndjson.")]
        )
    return file_format


async def create_job(
    session: AsyncSession, caller: Caller, path: Path, file_format: str, size: int
) -> ImportJob:
    """A queued job for an uploaded file, after its header was checked."""
    caller.require("kpm:write")
    check_header(path, check_format(file_format))
    job = ImportJob(
        client_id=caller.client_id,
        actor=caller.name,
        region_code=caller.region_code,
        format=file_format,
        bytes_total=size,
    )
    session.add(job)
    await session.flush()
    return job


async def queue_job(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    path: Path,
    file_format: str,
    size: int,
) -> ImportJob:
    """``create_job`` in a transaction of its own, committed on return: the worker that runs
    the import reads the job from another connection, so it must exist before it starts."""
    async with sessions() as session, session.begin():
        return await create_job(session, caller, path, file_format, size)


async def get_job(session: AsyncSession, caller: Caller, job_id: uuid.UUID) -> ImportJob:
    """A job is seen only by the client that started it (its report names people)."""
    caller.require("kpm:read")
    job = await session.get(ImportJob, job_id)
    if job is None or (job.client_id != caller.client_id and not caller.is_operator):
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
