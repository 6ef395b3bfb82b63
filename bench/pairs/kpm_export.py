"""Pair e: the CSV export (``GET /api/v1/kpm/export?format=csv``, streamed) of the large roll
against a raw asyncpg cursor over the same rows writing the same CSV columns. Rates are people
(CSV rows) per second, first byte asked to last byte written, both written to a file; the
service side also reports its worker's peak resident memory during the export."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench.context import BenchContext
from bench.database import BenchDatabase, checkpoint, empty_registry
from bench.pairs import Pair
from bench.pairs.kpm_import import large_roll
from bench.processes import peak_rss_mib, reset_peak_rss
from bench.results import Check, PairResult, Table, fmt
from bench.roll import import_roll
from service.kpm.import_files import FIELDS

RAW_SQL = """
SELECT f.no_kk, m.nik, m.name, m.relationship, m.sex, m.birth_date, f.village_code,
       f.address, f.desil,
       coalesce((SELECT string_agg(e.program_code, ';' ORDER BY e.program_code)
                 FROM kpm_enrollment e WHERE e.family_id = f.id), '') AS programs
FROM kpm_family f JOIN kpm_member m ON m.family_id = f.id
WHERE f.archived_at IS NULL
ORDER BY f.id, m.position
"""


@dataclass(frozen=True)
class Exported:
    rows: int
    size: int
    seconds: float
    peak_rss_mib: float | None = None


async def raw_export(database: BenchDatabase, path: Path) -> Exported:
    connection = await asyncpg.connect(database.dsn)
    rows = 0
    try:
        started = time.perf_counter()
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(FIELDS)
            async with connection.transaction():
                async for record in connection.cursor(RAW_SQL, prefetch=2000):
                    desil = record["desil"]
                    writer.writerow(
                        (
                            record["no_kk"],
                            record["nik"],
                            record["name"],
                            record["relationship"],
                            record["sex"],
                            record["birth_date"].isoformat(),
                            record["village_code"],
                            record["address"] or "",
                            "" if desil is None else str(desil),
                            record["programs"],
                        )
                    )
                    rows += 1
        return Exported(rows, path.stat().st_size, time.perf_counter() - started)
    finally:
        await connection.close()


async def service_export(
    context: BenchContext, path: Path, file_format: str = "csv", *, rows: int | None = None
) -> Exported:
    """The service's export streamed to ``path``; a CSV's rows are counted as it arrives, an
    XLSX (a zip) has them given as ``rows``."""
    token = await context.token()
    pids = context.service.worker_pids()
    kernel_peak = reset_peak_rss(pids)
    lines = 0
    async with httpx.AsyncClient(
        base_url=context.service.url, headers={"Authorization": f"Bearer {token}"}, timeout=None
    ) as http:
        started = time.perf_counter()
        with path.open("wb") as handle:
            async with http.stream(
                "GET", "/api/v1/kpm/export", params={"format": file_format}
            ) as response:
                response.raise_for_status()
                async for chunk in response.aiter_raw():
                    handle.write(chunk)
                    lines += chunk.count(b"\n")
        seconds = time.perf_counter() - started
    peak = peak_rss_mib(pids) if kernel_peak else None
    counted = lines - 1 if rows is None else rows
    return Exported(counted, path.stat().st_size, seconds, peak)


async def ensure_large_roll(context: BenchContext) -> None:
    """The export reads what the import pair left; run alone, it loads the roll itself (through
    the service's importer, in process, untimed)."""
    if "large_roll" in context.state:
        return
    roll = large_roll(context)
    await empty_registry(context.database)
    print(f"  loading {roll.people} people for the export ...", flush=True)
    await import_roll(context.database, roll.path)
    context.state["large_roll"] = roll


async def run(context: BenchContext) -> PairResult:
    await ensure_large_roll(context)
    out = context.options.out_dir
    await checkpoint(context.database)
    served = await service_export(context, out / "export-service.csv")
    print(f"  service export: {served.rows} rows in {served.seconds:.1f}s", flush=True)
    raw = await raw_export(context.database, out / "export-raw.csv")
    print(f"  raw cursor: {raw.rows} rows in {raw.seconds:.1f}s", flush=True)
    service_rate = served.rows / served.seconds
    raw_rate = raw.rows / raw.seconds
    table = Table(
        ["side", "rows", "MiB", "seconds", "rows/s", "peak RSS MiB"],
        [
            [
                "service (GET /api/v1/kpm/export)",
                f"{served.rows:,}",
                fmt(served.size / 2**20),
                fmt(served.seconds),
                fmt(service_rate),
                "-" if served.peak_rss_mib is None else fmt(served.peak_rss_mib),
            ],
            [
                "raw asyncpg cursor + csv",
                f"{raw.rows:,}",
                fmt(raw.size / 2**20),
                fmt(raw.seconds),
                fmt(raw_rate),
                "-",
            ],
            ["ratio service / raw", "", "", "", fmt(service_rate / raw_rate, "x"), ""],
        ],
    )
    notes = [
        "both write the import CSV columns to a file in bench/out; the service's also travels "
        "over HTTP to the harness",
    ]
    if served.rows != raw.rows:
        notes.append(f"the sides wrote different numbers of rows ({served.rows} vs {raw.rows})")
    return PairResult(
        key="export",
        title=f"CSV export of {raw.rows:,} people: service vs raw cursor",
        tables=[table],
        checks=[Check("export rate service/raw", service_rate / raw_rate, 0.5, True)],
        notes=notes,
    )


PAIR = Pair("export", "CSV export vs raw asyncpg cursor writing CSV", run, default=False)
