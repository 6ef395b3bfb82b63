"""Pair d: a bulk import through the service's HTTP import (upload, background job, polled to
the end) against a raw asyncpg ``copy_records_to_table`` of the same families into the same
tables. Rates are people per second, file read to rows committed on both sides; the service
side also reports its worker's peak resident memory during the import.

The roll is ``bench/gen_kpm.py``'s (about 3.6 people per family, 2% spoiled on purpose):
the raw side skips the spoiled families that the generator lists, without any validation."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.context import BenchContext
from bench.database import BenchDatabase, empty_registry
from bench.pairs import Pair
from bench.processes import peak_rss_mib, reset_peak_rss, rss_mib
from bench.results import Check, PairResult, Table, fmt
from bench.roll import Roll, cached_roll

RAW_BATCH_FAMILIES = 10_000
MAX_PEAK_RSS_MIB = 300.0


def large_roll(context: BenchContext) -> Roll:
    folder = context.options.out_dir / f"roll-{context.options.families}"
    return cached_roll(folder, context.options.families, generator=context.options.generator)


@dataclass(frozen=True)
class RawFamilies:
    families: list[tuple[Any, ...]]
    members: list[tuple[Any, ...]]
    enrollments: list[tuple[Any, ...]]


def _raw_batches(roll: Roll, today: dt.date) -> Iterator[RawFamilies]:
    """The roll's families as table rows, ``RAW_BATCH_FAMILIES`` at a time; no checks at all."""
    families: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    enrollments: list[tuple[Any, ...]] = []
    current_no_kk: str | None = None
    family_id = uuid.uuid4()
    position = 0
    with roll.path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            no_kk = row["no_kk"]
            if no_kk in roll.spoiled_no_kks:
                continue
            if no_kk != current_no_kk:
                if len(families) >= RAW_BATCH_FAMILIES:
                    yield RawFamilies(families, members, enrollments)
                    families, members, enrollments = [], [], []
                current_no_kk = no_kk
                family_id = uuid.uuid4()
                position = 0
                desil = row["desil"].strip()
                families.append(
                    (
                        family_id,
                        no_kk,
                        row["village_code"],
                        row["address"] or None,
                        int(desil) if desil else None,
                    )
                )
                for code in sorted({c for c in row["programs"].split(";") if c}):
                    enrollments.append((family_id, code, "active", today))
            members.append(
                (
                    family_id,
                    row["nik"],
                    row["name"],
                    row["sex"],
                    dt.date.fromisoformat(row["birth_date"]),
                    row["relationship"],
                    False,
                    True,
                    position,
                )
            )
            position += 1
    if families:
        yield RawFamilies(families, members, enrollments)


async def raw_copy(database: BenchDatabase, roll: Roll) -> tuple[int, float]:
    """People copied and seconds taken: parse, COPY families, members, enrollments, commit."""
    connection = await asyncpg.connect(database.dsn)
    people = 0
    try:
        started = time.perf_counter()
        async with connection.transaction():
            for batch in _raw_batches(roll, dt.date.today()):
                await connection.copy_records_to_table(
                    "kpm_family",
                    records=batch.families,
                    columns=["id", "no_kk", "village_code", "address", "desil"],
                )
                await connection.copy_records_to_table(
                    "kpm_member",
                    records=batch.members,
                    columns=[
                        "family_id",
                        "nik",
                        "name",
                        "sex",
                        "birth_date",
                        "relationship",
                        "nik_mismatch",
                        "live",
                        "position",
                    ],
                )
                await connection.copy_records_to_table(
                    "kpm_enrollment",
                    records=batch.enrollments,
                    columns=["family_id", "program_code", "status", "started_on"],
                )
                people += len(batch.members)
        return people, time.perf_counter() - started
    finally:
        await connection.close()


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


@dataclass(frozen=True)
class ServiceImport:
    job: dict[str, Any]
    seconds: float
    peak_rss_mib: float
    peak_measured_by_kernel: bool


async def service_import(context: BenchContext, roll: Roll) -> ServiceImport:
    """POST the file to the running service, then poll the job until it is done."""
    token = await context.token()
    pids = context.service.worker_pids()
    kernel_peak = reset_peak_rss(pids)
    sampled = [rss_mib(pids)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    async with httpx.AsyncClient(base_url=context.service.url, headers=headers) as http:
        started = time.perf_counter()
        response = await http.post(
            "/api/v1/kpm/imports",
            params={"format": "csv"},
            content=_file_chunks(roll.path),
            timeout=None,
        )
        if response.status_code != 202:
            raise RuntimeError(f"import refused: {response.status_code} {response.text}")
        location = response.headers["Location"]
        while True:
            job: dict[str, Any] = (await http.get(location, timeout=60)).raise_for_status().json()
            sampled.append(rss_mib(pids))
            if job["status"] in ("done", "failed"):
                break
            await asyncio.sleep(0.25)
        seconds = time.perf_counter() - started
    if job["status"] != "done":
        raise RuntimeError(f"the import failed: {job}")
    peak = peak_rss_mib(pids) if kernel_peak else max(sampled)
    return ServiceImport(job, seconds, peak, kernel_peak)


async def run(context: BenchContext) -> PairResult:
    roll = large_roll(context)
    print(f"  roll: {roll.families} families, {roll.people} people ({roll.path})", flush=True)
    await empty_registry(context.database)
    raw_people, raw_seconds = await raw_copy(context.database, roll)
    print(f"  raw COPY: {raw_people} people in {raw_seconds:.1f}s", flush=True)
    await empty_registry(context.database)
    served = await service_import(context, roll)
    context.state["large_roll"] = roll
    job = served.job
    people = int(job["people_imported"])
    print(f"  service import: {people} people in {served.seconds:.1f}s", flush=True)
    service_rate = people / served.seconds
    raw_rate = raw_people / raw_seconds
    table = Table(
        ["side", "people", "seconds", "people/s", "peak RSS MiB"],
        [
            [
                "service (POST /api/v1/kpm/imports)",
                f"{people:,}",
                fmt(served.seconds),
                fmt(service_rate),
                fmt(served.peak_rss_mib),
            ],
            ["raw asyncpg COPY", f"{raw_people:,}", fmt(raw_seconds), fmt(raw_rate), "-"],
            ["ratio service / raw", "", "", fmt(service_rate / raw_rate, "x"), ""],
        ],
    )
    notes = [
        f"service job: {job['families_created']} families created, "
        f"{job['families_refused']} refused (the roll spoils {len(roll.spoiled_no_kks)}), "
        f"{job['families_unchanged']} unchanged",
        "raw side: one transaction, COPY of families, members and enrollments in batches of "
        f"{RAW_BATCH_FAMILIES:,} families, CSV parsing included; no validation, no audit rows",
        "peak RSS: the worker's VmHWM, reset just before the upload"
        if served.peak_measured_by_kernel
        else "peak RSS: sampled VmRSS while polling (the kernel's VmHWM could not be reset)",
    ]
    if people != raw_people:
        notes.append(f"the sides wrote different numbers of people ({people} vs {raw_people})")
    return PairResult(
        key="import",
        title=f"import of {roll.people:,} people: service vs raw COPY",
        tables=[table],
        checks=[
            Check("import rate service/raw", service_rate / raw_rate, 0.5, True),
            Check("service peak RSS", served.peak_rss_mib, MAX_PEAK_RSS_MIB, False, " MiB"),
        ],
        notes=notes,
    )


PAIR = Pair("import", "bulk import (about 1M people) vs raw asyncpg COPY", run, default=False)
