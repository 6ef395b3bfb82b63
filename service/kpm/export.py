"""Export of the family list as CSV (the import format, so it imports back unchanged) or NDJSON,
streamed from a server-side cursor: memory stays flat whatever the number of families."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.access import Caller
from service.journal import record_read
from service.kpm.families import ENTITY, FamilyFilters, family_query, load_records
from service.kpm.import_files import FIELDS
from service.kpm.tables import Family
from service.kpm.views import PII_SCOPE, present_family

CHUNK_FAMILIES = 1000


def export_query(caller: Caller, filters: FamilyFilters) -> Select[tuple[Family]]:
    """Checked before streaming starts, so a refusal is still a proper problem response."""
    query: Select[tuple[Family]] = family_query(caller, filters)
    return query.order_by(col(Family.id))


async def export_families(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    query: Select[tuple[Family]],
    file_format: str,
) -> AsyncIterator[bytes]:
    async with sessions() as session, session.begin():
        if caller.has(PII_SCOPE):
            await record_read(session, caller, entity=ENTITY, record_id="export", region_code=None)
        if file_format == "csv":
            yield _csv_line(FIELDS)
        stream = await session.stream_scalars(query.execution_options(yield_per=CHUNK_FAMILIES))
        async for chunk in stream.partitions(CHUNK_FAMILIES):
            out = io.StringIO()
            for record in await load_records(session, list(chunk)):  # type: ignore[arg-type]
                family = present_family(record, caller)
                programs = ";".join(e.program_code for e in family.enrollments)
                for member in family.members:
                    row = {
                        "no_kk": family.no_kk,
                        "nik": member.nik,
                        "name": member.name,
                        "relationship": member.relationship.value,
                        "sex": member.sex.value,
                        "birth_date": member.birth_date.isoformat(),
                        "village_code": family.village_code,
                        "address": family.address or "",
                        "desil": "" if family.desil is None else str(family.desil),
                        "programs": programs,
                    }
                    if file_format == "csv":
                        csv.writer(out, lineterminator="\n").writerow(row[f] for f in FIELDS)
                    else:
                        out.write(json.dumps(row, ensure_ascii=False) + "\n")
            yield out.getvalue().encode()


def _csv_line(values: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode()
