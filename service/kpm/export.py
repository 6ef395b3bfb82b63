"""Export of the family list as CSV (the import format, so it imports back unchanged) or NDJSON,
one line per person, streamed from a server-side cursor: memory stays flat whatever the number
of families.

One Core query yields the lines themselves (members joined to their families, programs
aggregated in SQL): building ORM objects and response models per family cost 55% of the
export's time. Personal numbers are masked with the same ``mask`` as every other read."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.access import Caller
from service.journal import record_read
from service.kpm.families import ENTITY, FamilyFilters, family_query
from service.kpm.identity import mask
from service.kpm.import_files import FIELDS
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
        )
        .join_from(families, Member, col(Member.family_id) == families.c.id)
        .order_by(families.c.id, col(Member.position))
    )


async def export_families(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    query: Select[Any],
    file_format: str,
) -> AsyncIterator[bytes]:
    unmasked = caller.has(PII_SCOPE)
    if unmasked:
        # Committed before the first byte leaves: a download cut short was still a read.
        async with sessions() as session, session.begin():
            await record_read(
                session, caller, entity=ENTITY, record_id="export", region_code=caller.region_code
            )
    async with sessions() as session, session.begin():
        if file_format == "csv":
            yield _csv_line(FIELDS)
        result = await session.stream(query.execution_options(yield_per=CHUNK_ROWS))
        async for chunk in result.partitions(CHUNK_ROWS):
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
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
            ) in chunk:
                line = (
                    no_kk if unmasked else mask(no_kk),
                    nik if unmasked else mask(nik),
                    name,
                    relationship,
                    sex,
                    birth.isoformat(),
                    village,
                    address or "",
                    "" if desil is None else str(desil),
                    programs,
                )
                if file_format == "csv":
                    writer.writerow(line)
                else:
                    out.write(json.dumps(dict(zip(FIELDS, line, strict=True)), ensure_ascii=False))
                    out.write("\n")
            yield out.getvalue().encode()


def _csv_line(values: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode()
