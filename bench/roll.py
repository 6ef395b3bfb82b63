"""Synthetic KPM rolls in the canonical import CSV, and loading them through the service's own
importer (in process, as ``dinsos import kpm`` does).

For the large import pair the project's generator ``bench/gen_kpm.py`` is used (it also spoils 2%
of the families on purpose, so the refusal path is exercised); this module's ``write_roll`` makes
valid families only (for the seeded database, or with ``--generator`` pointing nowhere)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.database import BenchDatabase, engine_for
from service.auth.clients import operator
from service.database import create_session_factory
from service.kpm import imports
from service.kpm.identity import no_kk_problem
from service.kpm.import_files import FIELDS
from service.kpm.import_worker import job_locks, run_claimed

VILLAGES_CSV = Path(__file__).resolve().parent.parent / "service/regions/data/villages.csv"
GENERATOR = Path(__file__).resolve().parent / "gen_kpm.py"
DEFAULT_REGENCIES = ("33.28", "33.10", "17.06", "35.75")
REFERENCE_DAY = dt.date(2025, 1, 1)
ROLL_FORMAT = 2

_MEN = ("Ahmad", "Budi", "Slamet", "Sutrisno", "Joko", "Agus", "Wahyu", "Bambang", "Eko", "Heri")
_WOMEN = ("Siti", "Sri", "Sumiyati", "Warsini", "Tri", "Endang", "Wartini", "Rini", "Dewi", "Nur")
_FAMILY_NAMES = ("Wibowo", "Santoso", "Hidayat", "Saputra", "Lestari", "Rahayu", "Purnomo", "")
_PROGRAMS = ("PKH", "BPNT", "PK3E")


@dataclass(frozen=True)
class Roll:
    path: Path
    families: int
    people: int
    # No KKs of the families spoiled on purpose (the service refuses them; a raw COPY skips them).
    spoiled_no_kks: frozenset[str]


def villages_of(regencies: tuple[str, ...]) -> list[tuple[str, str]]:
    with VILLAGES_CSV.open() as handle:
        return [
            (row["code"], row["district_code"])
            for row in csv.DictReader(handle)
            if row["code"].startswith(tuple(r + "." for r in regencies))
        ]


def write_roll(path: Path, families: int, *, seed: int = 1) -> Roll:
    """``families`` valid families (one to six people each), one CSV row per person."""
    rng = random.Random(seed)
    villages = villages_of(DEFAULT_REGENCIES)
    serials: dict[str, int] = {}
    taken: set[str] = set()

    def number(district: str, day: int, month: int, year: int) -> str:
        while True:
            serials[district] = serials.get(district, 0) % 9999 + 1
            value = f"{district.replace('.', '')}{day:02d}{month:02d}{year % 100:02d}"
            value += f"{serials[district]:04d}"
            if value not in taken:
                taken.add(value)
                return value

    people = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FIELDS)
        for _ in range(families):
            village, district = rng.choice(villages)
            issued = REFERENCE_DAY - dt.timedelta(days=rng.randint(30, 6000))
            no_kk = number(district, issued.day, issued.month, issued.year)
            family_name = rng.choice(_FAMILY_NAMES)
            head_birth = REFERENCE_DAY - dt.timedelta(days=rng.randint(25 * 365, 70 * 365))
            members = [("KEPALA_KELUARGA", False, head_birth)]
            if rng.random() < 0.85:
                wife_birth = head_birth + dt.timedelta(days=rng.randint(-3000, 3000))
                members.append(("ISTRI", True, min(wife_birth, REFERENCE_DAY)))
            for _child in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
                child_birth = head_birth + dt.timedelta(days=rng.randint(18 * 365, 24 * 365))
                members.append(("ANAK", rng.random() < 0.5, min(child_birth, REFERENCE_DAY)))
            address = f"RT {rng.randint(1, 12):02d} RW {rng.randint(1, 8):02d}"
            desil = str(rng.choice((1, 1, 1, 2, 2, 3, 4)))
            programs = ";".join(sorted(rng.sample(_PROGRAMS, rng.randint(1, 2))))
            for relationship, female, birth in members:
                day = birth.day + (40 if female else 0)
                name = f"{rng.choice(_WOMEN if female else _MEN)} {family_name}".strip()
                writer.writerow(
                    (
                        no_kk,
                        number(district, day, birth.month, birth.year),
                        name,
                        relationship,
                        "P" if female else "L",
                        birth.isoformat(),
                        village,
                        address,
                        desil,
                        programs,
                    )
                )
                people += 1
    return Roll(path, families, people, frozenset())


def generate_roll(folder: Path, families: int, *, generator: Path | None) -> Roll:
    """The project's generator when available, otherwise :func:`write_roll`."""
    if generator is not None and generator.exists():
        subprocess.run(
            [sys.executable, str(generator), str(folder), "--families", str(families)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        expected = json.loads((folder / "expected.json").read_text())
        spoiled = {str(item["no_kk"]) for item in expected["rejected"]}
        return Roll(
            folder / "kpm.csv",
            int(expected["families"]),
            int(expected["people"]),
            frozenset(spoiled | invalid_no_kks(folder / "kpm.csv")),
        )
    return write_roll(folder / "kpm.csv", families)


def invalid_no_kks(path: Path) -> set[str]:
    """No KKs that are not valid card numbers although the generator did not mean to spoil them:
    past 10,000 families in a district its serial wraps to 0000, which no card has (23 families
    in a roll of 280,000). The service refuses them, so the raw side must skip them too."""
    with path.open(newline="") as handle:
        return {row["no_kk"] for row in csv.DictReader(handle) if no_kk_problem(row["no_kk"])}


@dataclass(frozen=True)
class Imported:
    families_created: int
    families_refused: int
    people_imported: int


async def import_roll(database: BenchDatabase, path: Path) -> Imported:
    """The file through the service's importer, as the operator's command line runs it."""
    engine = engine_for(database)
    sessions = create_session_factory(engine)
    caller = operator()
    try:
        async with job_locks(database.url) as locks:
            async with sessions() as session, session.begin():
                job = await imports.create_job(session, caller, path, "csv", path.stat().st_size)
                # Claimed before anyone can see it, as `dinsos import kpm` does: the running
                # service's import worker would otherwise take the queued job over.
                await locks.try_lock(job.id)
            done = await run_claimed(sessions, locks, job.id)
        if done is None:
            raise RuntimeError(f"another process took import {job.id} over")
        return Imported(done.families_created, done.families_refused, done.people_imported)
    finally:
        await engine.dispose()


def cached_roll(folder: Path, families: int, *, generator: Path | None) -> Roll:
    """Generating a million people takes a while: a roll of the same size is reused."""
    meta = folder / "roll.json"
    if meta.exists():
        saved = json.loads(meta.read_text())
        if saved["families"] == families and (folder / "kpm.csv").exists():
            spoiled = set(saved["spoiled"])
            if saved.get("format") != ROLL_FORMAT:  # cached before invalid No KKs were skipped
                spoiled |= invalid_no_kks(folder / "kpm.csv")
            return Roll(
                folder / "kpm.csv",
                int(saved["rows_families"]),
                int(saved["people"]),
                frozenset(spoiled),
            )
    folder.mkdir(parents=True, exist_ok=True)
    roll = generate_roll(folder, families, generator=generator)
    meta.write_text(
        json.dumps(
            {
                "format": ROLL_FORMAT,
                "families": families,
                "rows_families": roll.families,
                "people": roll.people,
                "spoiled": sorted(roll.spoiled_no_kks),
            }
        )
    )
    return roll
