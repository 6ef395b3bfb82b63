"""Export of the family list as CSV (the import format, so it imports back unchanged), NDJSON or
XLSX, one line per person (so it is also the export of the members across families), streamed
from a server-side cursor through ``service.exports``: memory stays flat whatever the number of
families.

One Core query yields the lines themselves (members joined to their families, programs
aggregated in SQL): building ORM objects and response models per family cost 55% of the
export's time. Personal numbers are masked with the same ``mask`` as every other read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.access import Caller
from service.exports import Chunk
from service.journal import record_reads
from service.kpm.families import ENTITY, FamilyFilters, family_query
from service.kpm.identity import mask
from service.kpm.tables import Enrollment, Member
from service.kpm.views import PII_SCOPE

CHUNK_ROWS = 5000


def export_query(caller: Caller, filters: FamilyFilters) -> Select[Any]:
    """Checked before streaming starts, so a refusal is still a proper problem response."""
    families = family_query(caller, filters).subquery()
    programs = (
        select(
            func.string_agg(
                col(Enrollment.program_code),
                aggregate_order_by(literal_column("';'"), col(Enrollment.program_code)),
            )
        )
        .where(col(Enrollment.family_id) == families.c.id)
        .scalar_subquery()
    )
    return (
        select(
            families.c.no_kk,
            col(Member.nik),
            col(Member.name),
            col(Member.relationship),
            col(Member.sex),
            col(Member.birth_date),
            families.c.village_code,
            families.c.address,
            families.c.desil,
            func.coalesce(programs, "").label("programs"),
            families.c.id,
        )
        .join_from(families, Member, col(Member.family_id) == families.c.id)
        .order_by(families.c.id, col(Member.position))
    )


async def export_rows(
    sessions: async_sessionmaker[AsyncSession], caller: Caller, query: Select[Any]
) -> AsyncIterator[Chunk]:
    """The lines of ``query`` in chunks of ``CHUNK_ROWS``, in the columns of ``FIELDS``, masked
    without ``pii:read``; with it, each chunk's families are audited before it is handed out."""
    unmasked = caller.has(PII_SCOPE)
    audited: object = None  # the last family audited: a family's lines may span two chunks
    async with sessions() as session, session.begin():
        result = await session.stream(query.execution_options(yield_per=CHUNK_ROWS))
        async for chunk in result.partitions(CHUNK_ROWS):
            if unmasked:
                audited = await _audit_chunk(sessions, caller, chunk, after=audited)
            yield [
                (
                    no_kk if unmasked else mask(no_kk),
                    nik if unmasked else mask(nik),
                    name,
                    relationship,
                    sex,
                    birth,
                    village,
                    address,
                    desil,
                    programs,
                )
                for (
                    no_kk,
                    nik,
                    name,
                    relationship,
                    sex,
                    birth,
                    village,
                    address,
                    desil,
                    programs,
                    _family_id,
                ) in chunk
            ]


async def _audit_chunk(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    chunk: Sequence[Sequence[Any]],
    *,
    after: object,
) -> object:
    """One audit entry per family whose unmasked lines are in ``chunk``, committed in a
    transaction of its own before the chunk is streamed: a download cut short was still a
    read. Returns the last family audited (lines come ordered by family)."""
    families: dict[object, str] = {}
    for line in chunk:
        family_id, village = line[-1], line[6]
        if family_id != after:
            families[family_id] = village
    if families:
        async with sessions() as session, session.begin():
            await record_reads(session, caller, ENTITY, list(families.items()))
    return chunk[-1][-1] if chunk else after
