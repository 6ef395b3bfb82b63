"""Loads the shipped region tree (``data/``, ODbL: see ``data/README.md``) into ``region``.

COPY into a temporary table, then one upsert that only touches rows whose content changed, so a
second load writes nothing and the whole tree (about 91,600 rows) goes in in about a second.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from service.regions.codes import RegionLevel

DATA_DIR = Path(__file__).parent / "data"

_FILES = (
    ("provinces.csv", RegionLevel.province, None),
    ("regencies.csv", RegionLevel.regency, "province_code"),
    ("districts.csv", RegionLevel.district, "regency_code"),
    ("villages.csv", RegionLevel.village, "district_code"),
)


def region_rows(data_dir: Path = DATA_DIR) -> Iterator[tuple[str, str | None, str, str]]:
    for filename, level, parent_column in _FILES:
        with (data_dir / filename).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                parent = row[parent_column] if parent_column else None
                yield row["code"], parent, level.value, row["name"].strip()


async def load_regions(session: AsyncSession) -> int:
    """Insert or refresh every region; returns how many rows were inserted or changed."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.execute(
        "CREATE TEMP TABLE region_load (code text, parent_code text, level text, name text)"
    )
    await raw.copy_records_to_table(
        "region_load", records=region_rows(), columns=["code", "parent_code", "level", "name"]
    )
    status = await raw.execute(
        """
        INSERT INTO region (code, parent_code, level, name)
        SELECT code, parent_code, level, name FROM region_load
        ON CONFLICT (code) DO UPDATE
           SET parent_code = EXCLUDED.parent_code, level = EXCLUDED.level, name = EXCLUDED.name
         WHERE (region.parent_code, region.level, region.name)
               IS DISTINCT FROM (EXCLUDED.parent_code, EXCLUDED.level, EXCLUDED.name)
        """
    )
    await raw.execute("DROP TABLE region_load")
    return int(status.rsplit(" ", 1)[-1])
