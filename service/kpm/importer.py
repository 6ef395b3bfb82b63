"""Bulk import of families. Each family goes in whole or not at all; the others go in. Valid
families are written in batches with COPY and set-based statements, so a million people import
at a rate close to a raw COPY; a file imported twice changes nothing the second time.

The report lists every refused family with its lines, field and code; refusals come from the
same rules as the API (``validation.check_family``), plus what only an import can meet: a NIK
used by an earlier family of the same file, and the rows of one family scattered in the file.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access import Caller
from service.journal import MASK
from service.kpm.families import ENTITY, today
from service.kpm.import_files import (
    CountingReader,
    FamilyRows,
    csv_rows,
    draft_of,
    families_in,
    ndjson_rows,
)
from service.kpm.reference import program_codes, village_codes
from service.kpm.tables import ImportJob, ImportRefusal
from service.kpm.validation import FamilyDraft, check_family
from service.records import utcnow

BATCH_FAMILIES = 2000

Progress = Callable[[ImportJob], Awaitable[None] | None]


@dataclass
class Refused:
    family: FamilyRows
    field: str
    code: str
    message: str
    line: int
    nik: str | None = None


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    people: int = 0
    refused: list[Refused] = field(default_factory=list)


@dataclass
class Candidate:
    rows: FamilyRows
    draft: FamilyDraft


async def _raw(session: AsyncSession) -> asyncpg.Connection:
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    return raw  # type: ignore[no-any-return]


def _holder_text(caller: Caller, village_code: str) -> str:
    if caller.can_see(village_code):
        return "The NIK belongs to another live family."
    return f"The NIK belongs to a live family of regency {village_code[:5]}."


async def write_batch(
    session: AsyncSession, caller: Caller, candidates: list[Candidate]
) -> BatchResult:
    """Write one batch of valid families in the session's transaction."""
    result = BatchResult()
    if not candidates:
        return result
    conn = await _raw(session)
    no_kks = [c.draft.no_kk for c in candidates]
    niks = [m.nik for c in candidates for m in c.draft.members]
    existing = {
        row["no_kk"]: row
        for row in await conn.fetch(
            "SELECT id, no_kk, village_code, address, desil, version FROM kpm_family"
            " WHERE no_kk = any($1::text[]) AND archived_at IS NULL",
            no_kks,
        )
    }
    family_ids = [row["id"] for row in existing.values()]
    old_members: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    old_programs: dict[uuid.UUID, set[str]] = defaultdict(set)
    if family_ids:
        for row in await conn.fetch(
            "SELECT family_id, id, nik, name, sex, birth_date, relationship, position"
            " FROM kpm_member WHERE family_id = any($1::uuid[]) ORDER BY family_id, position",
            family_ids,
        ):
            old_members[row["family_id"]].append(row)
        for row in await conn.fetch(
            "SELECT family_id, program_code FROM kpm_enrollment WHERE family_id = any($1::uuid[])",
            family_ids,
        ):
            old_programs[row["family_id"]].add(row["program_code"])
    holders = {
        row["nik"]: row
        for row in await conn.fetch(
            "SELECT m.nik, f.no_kk, f.village_code FROM kpm_member m"
            " JOIN kpm_family f ON f.id = m.family_id WHERE m.live AND m.nik = any($1::text[])",
            niks,
        )
    }

    new_families: list[tuple[Any, ...]] = []
    new_members: list[tuple[Any, ...]] = []
    new_enrollments: list[tuple[Any, ...]] = []
    audit: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    started = today()

    for candidate in candidates:
        draft, rows = candidate.draft, candidate.rows
        old = existing.get(draft.no_kk)
        if not caller.can_write(draft.village_code) or (
            old is not None and not caller.can_write(old["village_code"])
        ):
            result.refused.append(
                Refused(
                    rows,
                    "village_code",
                    "outside_region",
                    "The village lies outside the region this client is bound to.",
                    rows.rows[0].line,
                )
            )
            continue
        clash = next(
            (
                (member, holders[member.nik])
                for member in draft.members
                if member.nik in holders and holders[member.nik]["no_kk"] != draft.no_kk
            ),
            None,
        )
        if clash is not None:
            member, holder = clash
            result.refused.append(
                Refused(
                    rows,
                    "nik",
                    "nik_in_other_family",
                    _holder_text(caller, holder["village_code"]),
                    member.line or 0,
                    member.nik,
                )
            )
            continue

        if old is None:
            family_id = uuid.uuid4()
            new_families.append(
                (family_id, draft.no_kk, draft.village_code, draft.address, draft.desil)
            )
            new_members += _member_rows(family_id, draft)
            new_enrollments += [
                (family_id, code, "active", started) for code in sorted(set(draft.programs))
            ]
            audit.append(
                _audit_row(
                    caller,
                    "create",
                    family_id,
                    draft.village_code,
                    {
                        "no_kk": [None, MASK],
                        "members": [None, len(draft.members)],
                        "source": [None, "import"],
                    },
                )
            )
            events.append(
                _event_row(
                    caller,
                    "create",
                    family_id,
                    draft.village_code,
                    1,
                    ["members", "no_kk", "village_code"],
                )
            )
            result.created += 1
            result.people += len(draft.members)
            continue

        family_id = old["id"]
        changed = await _apply_changes(conn, old, old_members[family_id], draft)
        missing_programs = sorted(set(draft.programs) - old_programs[family_id])
        new_enrollments += [(family_id, code, "active", started) for code in missing_programs]
        if missing_programs:
            changed.append("enrollments")
        if not changed:
            result.unchanged += 1
            continue
        version = await conn.fetchval(
            "UPDATE kpm_family SET version = version + 1, updated_at = now()"
            " WHERE id = $1 RETURNING version",
            family_id,
        )
        audit.append(
            _audit_row(
                caller,
                "update",
                family_id,
                draft.village_code,
                {name: ["changed", "import"] for name in changed},
            )
        )
        events.append(
            _event_row(caller, "update", family_id, draft.village_code, version, sorted(changed))
        )
        result.updated += 1
        result.people += len(draft.members)

    if new_families:
        await conn.copy_records_to_table(
            "kpm_family",
            records=new_families,
            columns=["id", "no_kk", "village_code", "address", "desil"],
        )
    if new_members:
        await conn.copy_records_to_table(
            "kpm_member",
            records=new_members,
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
    if new_enrollments:
        await conn.copy_records_to_table(
            "kpm_enrollment",
            records=new_enrollments,
            columns=["family_id", "program_code", "status", "started_on"],
        )
    if audit:
        await conn.copy_records_to_table(
            "audit_entry",
            records=audit,
            columns=[
                "client_id",
                "actor",
                "action",
                "entity",
                "record_id",
                "region_code",
                "changes",
                "request_id",
            ],
        )
    if events:
        await conn.copy_records_to_table(
            "change_event",
            records=events,
            columns=[
                "entity",
                "record_id",
                "action",
                "region_code",
                "version",
                "changed_fields",
                "client_id",
            ],
        )
    return result


def _member_rows(family_id: uuid.UUID, draft: FamilyDraft) -> list[tuple[Any, ...]]:
    return [
        (
            family_id,
            m.nik,
            m.name,
            m.sex,
            m.birth_date,
            m.relationship,
            m.nik_mismatch,
            True,
            position,
        )
        for position, m in enumerate(draft.members)
    ]


async def _apply_changes(
    conn: asyncpg.Connection,
    old: asyncpg.Record,
    old_members: list[asyncpg.Record],
    draft: FamilyDraft,
) -> list[str]:
    """Bring an existing family in line with the file; returns the names of what changed.
    Members are matched by NIK, so a member keeps its id (trainings refer to it)."""
    changed: list[str] = []
    if (old["village_code"], old["address"], old["desil"]) != (
        draft.village_code,
        draft.address,
        draft.desil,
    ):
        await conn.execute(
            "UPDATE kpm_family SET village_code = $2, address = $3, desil = $4 WHERE id = $1",
            old["id"],
            draft.village_code,
            draft.address,
            draft.desil,
        )
        changed.append("family")
    by_nik = {row["nik"]: row for row in old_members}
    wanted = {m.nik for m in draft.members}
    gone = [row["id"] for row in old_members if row["nik"] not in wanted]
    if gone:
        await conn.execute("DELETE FROM kpm_member WHERE id = any($1::uuid[])", gone)
    for position, member in enumerate(draft.members):
        values = (member.name, member.sex, member.birth_date, member.relationship, position)
        row = by_nik.get(member.nik)
        if row is None:
            await conn.execute(
                "INSERT INTO kpm_member (id, family_id, nik, name, sex, birth_date, relationship,"
                " nik_mismatch, live, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, $9)",
                uuid.uuid4(),
                old["id"],
                member.nik,
                member.name,
                member.sex,
                member.birth_date,
                member.relationship,
                member.nik_mismatch,
                position,
            )
        elif (
            row["name"],
            row["sex"],
            row["birth_date"],
            row["relationship"],
            row["position"],
        ) != values:
            await conn.execute(
                "UPDATE kpm_member SET name = $2, sex = $3, birth_date = $4, relationship = $5,"
                " position = $6, nik_mismatch = $7 WHERE id = $1",
                row["id"],
                *values,
                member.nik_mismatch,
            )
        else:
            continue
        changed.append("members")
    if gone:
        changed.append("members")
    return sorted(set(changed))


def _audit_row(
    caller: Caller, action: str, family_id: uuid.UUID, region: str, changes: dict[str, Any]
) -> tuple[Any, ...]:
    return (
        caller.client_id,
        caller.name,
        action,
        ENTITY,
        str(family_id),
        region,
        json.dumps(changes),
        caller.request_id,
    )


def _event_row(
    caller: Caller,
    action: str,
    family_id: uuid.UUID,
    region: str,
    version: int,
    fields: list[str],
) -> tuple[Any, ...]:
    return (ENTITY, str(family_id), action, region, version, fields, caller.client_id)


# --- the whole file --------------------------------------------------------------------------


@dataclass
class FileScreen:
    """What is remembered across batches: NIKs and No KKs of families met earlier in the file.
    NIKs are kept as integers, a third of the memory of strings, for files of millions."""

    niks: set[int] = field(default_factory=set)
    no_kks: set[str] = field(default_factory=set)

    def screen(self, rows: FamilyRows, draft: FamilyDraft) -> Refused | None:
        if draft.no_kk in self.no_kks:
            return Refused(
                rows,
                "no_kk",
                "duplicate_no_kk",
                "The family's rows must be together; this No KK came earlier.",
                rows.rows[0].line,
            )
        for member in draft.members:
            if int(member.nik) in self.niks:
                return Refused(
                    rows,
                    "nik",
                    "duplicate_nik",
                    "The NIK belongs to an earlier family of this file.",
                    member.line or 0,
                    member.nik,
                )
        self.no_kks.add(draft.no_kk)
        self.niks.update(int(member.nik) for member in draft.members)
        return None


def refusals_of_check(
    rows: FamilyRows, draft: FamilyDraft, problems: Iterable[Any]
) -> list[Refused]:
    refused = []
    for problem in problems:
        member = draft.members[problem.member_index] if problem.member_index is not None else None
        refused.append(
            Refused(
                rows,
                problem.field,
                problem.code,
                problem.message,
                (member.line if member else None) or rows.rows[0].line,
                member.nik if member else None,
            )
        )
    return refused


@dataclass
class Tally:
    """Counts of a running import, kept outside the ORM (an instrumented attribute per family
    would cost more than the family's validation)."""

    bytes_read: int = 0
    rows_read: int = 0
    families_read: int = 0
    families_created: int = 0
    families_updated: int = 0
    families_unchanged: int = 0
    families_refused: int = 0
    people_imported: int = 0


@dataclass
class Batch:
    candidates: list[Candidate]
    refused: list[Refused]
    last: bool


class BatchReader:
    """Reads, groups and checks families, a batch at a time. Runs in a worker thread, so the
    next batch is read and checked while the database writes the previous one."""

    def __init__(
        self,
        path: Path,
        file_format: str,
        villages: frozenset[str],
        programs: frozenset[str],
        tally: Tally,
    ) -> None:
        self.handle = path.open("rb")
        self.counter = CountingReader(self.handle)
        buffered = io.BufferedReader(self.counter, buffer_size=1 << 20)
        rows = csv_rows(buffered) if file_format == "csv" else ndjson_rows(buffered)
        self.families = families_in(rows)
        self.villages = villages
        self.programs = programs
        self.tally = tally
        self.screen = FileScreen()
        self.today = today()

    def next_batch(self) -> Batch:
        candidates: list[Candidate] = []
        refused: list[Refused] = []
        for rows in self.families:
            self.tally.families_read += 1
            self.tally.rows_read += len(rows.rows)
            draft = draft_of(rows)
            problems = check_family(
                draft,
                village_exists=self.villages,
                program_exists=self.programs,
                today=self.today,
            )
            if problems:
                refused += refusals_of_check(rows, draft, problems)
                continue
            duplicate = self.screen.screen(rows, draft)
            if duplicate is not None:
                refused.append(duplicate)
                continue
            candidates.append(Candidate(rows, draft))
            if len(candidates) >= BATCH_FAMILIES:
                self.tally.bytes_read = self.counter.count
                return Batch(candidates, refused, last=False)
        self.tally.bytes_read = self.counter.count
        return Batch(candidates, refused, last=True)

    def close(self) -> None:
        self.handle.close()


async def run_import(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    job_id: uuid.UUID,
    path: Path,
    *,
    on_progress: Progress | None = None,
) -> ImportJob:
    """Import ``path`` for job ``job_id``: a transaction per batch, with the job's counts and the
    batch's refusals committed together with its families."""
    async with sessions() as session, session.begin():
        job = await session.get(ImportJob, job_id)
        assert job is not None
        job.status = "running"
        villages = await village_codes(session)
        programs = await program_codes(session)
        file_format = job.format
    tally = Tally()
    reader = BatchReader(path, file_format, villages, programs, tally)
    try:
        pending = asyncio.create_task(asyncio.to_thread(reader.next_batch))
        while True:
            batch = await pending
            if not batch.last:
                pending = asyncio.create_task(asyncio.to_thread(reader.next_batch))
            job = await _commit_batch(sessions, caller, job_id, tally, batch, on_progress)
            if batch.last:
                return job
    except BaseException as error:  # also cancellation: the job must end in a readable state
        async with sessions() as session, session.begin():
            failed = await session.get(ImportJob, job_id)
            assert failed is not None
            failed.status = "failed"
            failed.error = getattr(error, "detail", None) or "The import stopped on an error."
            failed.finished_at = utcnow()
        raise
    finally:
        reader.close()


async def _commit_batch(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    job_id: uuid.UUID,
    tally: Tally,
    batch: Batch,
    on_progress: Progress | None,
) -> ImportJob:
    try:
        async with sessions() as session, session.begin():
            result = await write_batch(session, caller, batch.candidates)
            job = await _record_progress(session, job_id, tally, result, batch)
    except (IntegrityError, asyncpg.UniqueViolationError):
        # Someone registered one of these NIKs or No KKs while the batch ran: settle the batch
        # family by family, so only the family that clashes is refused.
        result = BatchResult()
        for candidate in batch.candidates:
            try:
                async with sessions() as session, session.begin():
                    single = await write_batch(session, caller, [candidate])
            except (IntegrityError, asyncpg.UniqueViolationError):
                single = BatchResult(
                    refused=[
                        Refused(
                            candidate.rows,
                            "nik",
                            "nik_in_other_family",
                            "A NIK or No KK was registered by another family meanwhile.",
                            candidate.rows.rows[0].line,
                        )
                    ]
                )
            result.created += single.created
            result.updated += single.updated
            result.unchanged += single.unchanged
            result.people += single.people
            result.refused += single.refused
        async with sessions() as session, session.begin():
            job = await _record_progress(session, job_id, tally, result, batch)
    if on_progress is not None:
        outcome = on_progress(job)
        if outcome is not None:
            await outcome
    return job


async def _record_progress(
    session: AsyncSession, job_id: uuid.UUID, tally: Tally, result: BatchResult, batch: Batch
) -> ImportJob:
    all_refused = batch.refused + result.refused
    tally.families_created += result.created
    tally.families_updated += result.updated
    tally.families_unchanged += result.unchanged
    tally.people_imported += result.people
    tally.families_refused += len({id(r.family) for r in all_refused})
    job = await session.get(ImportJob, job_id)
    assert job is not None
    for name, value in vars(tally).items():
        setattr(job, name, value)
    if batch.last:
        job.status = "done"
        job.finished_at = utcnow()
    session.add_all(
        ImportRefusal(
            job_id=job_id,
            line=r.line,
            lines=r.family.lines,
            no_kk=r.family.no_kk[:40],
            nik=r.nik[:40] if r.nik else None,
            field=r.field,
            code=r.code,
            message=r.message[:300],
        )
        for r in all_refused
    )
    await session.flush()
    return job
