"""Bulk import of families. Each family goes in whole or not at all; the others go in. Valid
families are written in batches with COPY and set-based statements, so a million people import
at a rate close to a raw COPY; a file imported twice changes nothing the second time. A family
created or changed is journaled as the API journals it (``journal.record_writes``): the same
audit entry and change event as a create or update through REST.

The report lists every refused family with its lines, field and code; refusals come from the
same rules as the API (``validation.check_family``), plus what only an import can meet: a NIK
used by an earlier family of the same file, and the rows of one family scattered in the file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from pydantic_core import to_json
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.access import Caller
from service.database import driver_connection
from service.database_faults import is_database_unavailable
from service.journal import Write, field_changes, record_writes
from service.kpm.disclosures import Disclosure, allowed_disclosures, disclosure_writes
from service.kpm.families import ENTITY, created_changes, today
from service.kpm.import_files import (
    FamilyRows,
    csv_rows,
    draft_of,
    families_in,
    ndjson_rows,
)
from service.kpm.reference import program_codes, village_codes
from service.kpm.tables import ImportChunk, ImportJob, ImportRefusal
from service.kpm.validation import FamilyDraft, MemberDraft, check_family
from service.kpm.views import family_fields
from service.rate_limits import RateLimits
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
    # Refusals that name the regency of a family outside the caller's region, with what they
    # disclose: audited, and limited per client (service/kpm/disclosures.py).
    disclosed: list[tuple[Refused, Disclosure]] = field(default_factory=list)


@dataclass(slots=True)
class NewMember:
    """A member of a new family as the database will hold it (a ``views.MemberRow``)."""

    id: uuid.UUID
    nik: str
    name: str
    sex: str
    birth_date: dt.date
    relationship: str
    nik_mismatch: bool


@dataclass(slots=True)
class NewEnrollment:
    """An enrollment of a new family as the database will hold it, read by ``EnrollmentOut``."""

    id: uuid.UUID
    family_id: uuid.UUID
    program_code: str
    started_on: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str = "active"
    version: int = 1
    ended_on: dt.date | None = None
    graduation_kind: str | None = None
    credited_facilitator_id: uuid.UUID | None = None


@dataclass(slots=True)
class NewFamily:
    """A family as the import creates it if it is new, held as the database will hold it (a
    ``views.FamilyRow``): its ids, its times, its rows and its journal entry with the record
    (as JSON, for the change event), all prepared in the reader's thread while the database
    writes the previous batch, so that creating it costs the event loop only the COPYs."""

    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    no_kk: str
    village_code: str
    address: str | None
    desil: int | None
    members: list[NewMember]
    enrollments: list[NewEnrollment]
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # its kpm_family row
    member_rows: list[tuple[Any, ...]] = field(default_factory=list)
    enrollment_rows: list[tuple[Any, ...]] = field(default_factory=list)
    journal: list[Write] = field(default_factory=list)  # its one entry
    version: int = 1
    dtsen_id: str | None = None
    facilitator_id: uuid.UUID | None = None
    verification_status: str | None = None
    archived_at: dt.datetime | None = None
    archive_reason: str | None = None

    @staticmethod
    def of(draft: FamilyDraft, started: dt.date, now: dt.datetime) -> NewFamily:
        family_id = uuid.uuid4()
        family = NewFamily(
            family_id,
            now,
            now,
            draft.no_kk,
            draft.village_code,
            draft.address,
            draft.desil,
            [
                NewMember(
                    uuid.uuid4(),
                    member.nik,
                    member.name,
                    member.sex,
                    member.birth_date,  # type: ignore[arg-type]  # checked: not None
                    member.relationship,
                    member.nik_mismatch,
                )
                for member in draft.members
            ],
            [
                NewEnrollment(uuid.uuid4(), family_id, code, started, now, now)
                for code in sorted(set(draft.programs))
            ],
        )
        family.rows.append(
            (family_id, draft.no_kk, draft.village_code, draft.address, draft.desil, now, now)
        )
        family.member_rows += [
            (member.id, family_id, *_member_values(drafted, position))
            for position, (member, drafted) in enumerate(
                zip(family.members, draft.members, strict=True)
            )
        ]
        family.enrollment_rows += [
            (e.id, family_id, e.program_code, e.status, started, now, now)
            for e in family.enrollments
        ]
        programs = [e.program_code for e in family.enrollments]
        record = family_fields(family, family.members, family.enrollments, unmasked=True)
        family.journal.append(
            Write(
                "create",
                ENTITY,
                family_id,
                draft.village_code,
                1,  # a new record's first version
                created_changes(draft.village_code, len(draft.members), programs),
                to_json(record).decode(),
            )
        )
        return family


@dataclass
class Candidate:
    rows: FamilyRows
    draft: FamilyDraft
    new: NewFamily


def _holder_text(caller: Caller, village_code: str) -> str:
    if caller.can_see(village_code):
        return "The NIK belongs to another live family."
    return f"The NIK belongs to a live family of regency {village_code[:5]}."


# Over the client's limit of regency answers (service/kpm/disclosures.py).
WITHHELD_REGENCY = (
    "The NIK belongs to a live family outside your region; its regency is withheld (this "
    "client has had its limit of such answers for now)."
)


# --- one batch: look up, classify, write ------------------------------------------------------


@dataclass
class _Known:
    """What the database holds about a batch's families, looked up for the whole batch at once."""

    families: dict[str, asyncpg.Record]  # live families by No KK
    members: dict[uuid.UUID, list[asyncpg.Record]]  # by family, in card order
    programs: dict[uuid.UUID, set[str]]  # enrolled program codes by family
    holders: dict[str, asyncpg.Record]  # live NIKs of the batch: the No KK and village holding it


@dataclass
class _FamilyChange:
    """An existing family brought in line with the file: its row as the file has it, and what
    changed, for the journal."""

    family_id: uuid.UUID
    village_code: str
    address: str | None
    desil: int | None
    changes: dict[str, list[Any]]
    # Set when the file moves the family to another village.
    previous_village_code: str | None = None


@dataclass
class _Plan:
    """Every row a batch writes, gathered so that each kind is written in one statement."""

    new_families: list[tuple[Any, ...]] = field(default_factory=list)
    new_members: list[tuple[Any, ...]] = field(default_factory=list)
    changed_members: list[tuple[Any, ...]] = field(default_factory=list)  # see _update_members
    gone_members: list[uuid.UUID] = field(default_factory=list)
    new_enrollments: list[tuple[Any, ...]] = field(default_factory=list)
    changed_families: list[_FamilyChange] = field(default_factory=list)
    created: list[Write] = field(default_factory=list)


async def write_batch(
    session: AsyncSession,
    caller: Caller,
    candidates: list[Candidate],
    rate_limits: RateLimits | None = None,
) -> BatchResult:
    """Write one batch of valid families in the session's transaction: a handful of statements
    whatever the batch's size, and none but the look-ups when nothing changed."""
    result = BatchResult()
    if not candidates:
        return result
    connection = await driver_connection(session)
    known = await _look_up(connection, [candidate.draft for candidate in candidates])
    plan = _classify(caller, candidates, known, result)
    await _write(session, connection, caller, plan)
    if result.disclosed:
        allowed = await allowed_disclosures(rate_limits, caller, len(result.disclosed))
        for refused, _ in result.disclosed[allowed:]:
            refused.message = WITHHELD_REGENCY
        result.disclosed = result.disclosed[:allowed]
        disclosed = [disclosure for _, disclosure in result.disclosed]
        await record_writes(session, caller, disclosure_writes(disclosed), publish=False)
    return result


async def _look_up(connection: asyncpg.Connection, drafts: list[FamilyDraft]) -> _Known:
    """Four queries for the whole batch: its live families, their members and programs, and
    the live families holding any of its NIKs."""
    families = {
        row["no_kk"]: row
        for row in await connection.fetch(
            "SELECT id, no_kk, village_code, address, desil FROM kpm_family"
            " WHERE no_kk = any($1::text[]) AND archived_at IS NULL",
            [draft.no_kk for draft in drafts],
        )
    }
    family_ids = [row["id"] for row in families.values()]
    members: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    programs: dict[uuid.UUID, set[str]] = defaultdict(set)
    if family_ids:
        for row in await connection.fetch(
            "SELECT family_id, id, nik, name, sex, birth_date, relationship, position"
            " FROM kpm_member WHERE family_id = any($1::uuid[]) ORDER BY family_id, position",
            family_ids,
        ):
            members[row["family_id"]].append(row)
        for row in await connection.fetch(
            "SELECT family_id, program_code FROM kpm_enrollment WHERE family_id = any($1::uuid[])",
            family_ids,
        ):
            programs[row["family_id"]].add(row["program_code"])
    holders = {
        row["nik"]: row
        for row in await connection.fetch(
            "SELECT m.nik, f.id AS family_id, f.no_kk, f.village_code FROM kpm_member m"
            " JOIN kpm_family f ON f.id = m.family_id WHERE m.live AND m.nik = any($1::text[])",
            [member.nik for draft in drafts for member in draft.members],
        )
    }
    return _Known(families, members, programs, holders)


def _classify(
    caller: Caller, candidates: list[Candidate], known: _Known, result: BatchResult
) -> _Plan:
    """Refuse, create, change or leave each family; counts go to ``result``, rows to the plan."""
    plan = _Plan()
    started = today()
    for candidate in candidates:
        draft = candidate.draft
        refusal = _refusal(caller, candidate, known, result)
        if refusal is not None:
            result.refused.append(refusal)
        elif draft.no_kk not in known.families:
            _plan_creation(plan, candidate.new)
            result.created += 1
            result.people += len(draft.members)
        elif _plan_change(plan, draft, known, started):
            result.updated += 1
            result.people += len(draft.members)
        else:
            result.unchanged += 1
    return plan


def _refusal(
    caller: Caller, candidate: Candidate, known: _Known, result: BatchResult
) -> Refused | None:
    """Why the family may not go in as the database stands: outside the caller's region (where
    it is or where the file would move it), or a NIK that another live family holds (noted in
    ``result.disclosed`` when that family lies outside the caller's region)."""
    draft, rows = candidate.draft, candidate.rows
    old = known.families.get(draft.no_kk)
    if not caller.can_write(draft.village_code) or (
        old is not None and not caller.can_write(old["village_code"])
    ):
        return Refused(
            rows,
            "village_code",
            "outside_region",
            "The village lies outside the region this client is bound to.",
            rows.rows[0].line,
        )
    for member in draft.members:
        holder = known.holders.get(member.nik)
        if holder is not None and holder["no_kk"] != draft.no_kk:
            village = holder["village_code"]
            refused = Refused(
                rows,
                "nik",
                "nik_in_other_family",
                _holder_text(caller, village),
                member.line or 0,
                member.nik,
            )
            if not caller.can_see(village):
                where = f"line {refused.line} nik"
                result.disclosed.append((refused, Disclosure(where, holder["family_id"], village)))
            return refused
    return None


def _plan_creation(plan: _Plan, new: NewFamily) -> None:
    plan.new_families += new.rows
    plan.new_members += new.member_rows
    plan.new_enrollments += new.enrollment_rows
    plan.created += new.journal


def _plan_change(plan: _Plan, draft: FamilyDraft, known: _Known, started: dt.date) -> bool:
    """Plan what brings an existing family in line with the file; whether anything differs.
    Members are matched by NIK, so a member keeps its id (trainings refer to it)."""
    old = known.families[draft.no_kk]
    family_id: uuid.UUID = old["id"]
    changes = field_changes(
        {"village_code": old["village_code"], "address": old["address"], "desil": old["desil"]},
        {"village_code": draft.village_code, "address": draft.address, "desil": draft.desil},
    )
    members = _member_changes(plan, family_id, known.members[family_id], draft)
    if members is not None:
        changes["members"] = members
    enrolled = known.programs[family_id]
    missing = sorted(set(draft.programs) - enrolled)
    if missing:
        now = utcnow()
        plan.new_enrollments += [
            (uuid.uuid4(), family_id, code, "active", started, now, now) for code in missing
        ]
        changes["programs"] = [sorted(enrolled), sorted(enrolled.union(missing))]
    if not changes:
        return False
    moved_from = old["village_code"] if old["village_code"] != draft.village_code else None
    plan.changed_families.append(
        _FamilyChange(
            family_id, draft.village_code, draft.address, draft.desil, changes, moved_from
        )
    )
    return True


def _member_changes(
    plan: _Plan, family_id: uuid.UUID, old_members: list[asyncpg.Record], draft: FamilyDraft
) -> list[Any] | None:
    """Plan the member rows that differ from the file; ``[before, after]``: the ids of the
    members that changed or left, and of those that changed or came (None when none did)."""
    by_nik = {row["nik"]: row for row in old_members}
    wanted = {member.nik for member in draft.members}
    gone = [row["id"] for row in old_members if row["nik"] not in wanted]
    plan.gone_members += gone
    before, after = list(gone), []
    for position, member in enumerate(draft.members):
        row = by_nik.get(member.nik)
        if row is None:
            member_id = uuid.uuid4()
            plan.new_members.append((member_id, family_id, *_member_values(member, position)))
            after.append(member_id)
        elif _differs(row, member, position):
            plan.changed_members.append(
                (
                    row["id"],
                    member.name,
                    member.sex,
                    member.birth_date,
                    member.relationship,
                    member.nik_mismatch,
                    position,
                )
            )
            before.append(row["id"])
            after.append(row["id"])
    if not before and not after:
        return None
    return [sorted(str(i) for i in before), sorted(str(i) for i in after)]


MEMBER_COLUMNS = [
    "nik",
    "name",
    "sex",
    "birth_date",
    "relationship",
    "nik_mismatch",
    "live",
    "position",
]


def _member_values(member: MemberDraft, position: int) -> tuple[Any, ...]:
    """A member's columns, in ``MEMBER_COLUMNS`` order."""
    return (
        member.nik,
        member.name,
        member.sex,
        member.birth_date,
        member.relationship,
        member.nik_mismatch,
        True,
        position,
    )


def _differs(row: asyncpg.Record, member: MemberDraft, position: int) -> bool:
    return (row["name"], row["sex"], row["birth_date"], row["relationship"], row["position"]) != (
        member.name,
        member.sex,
        member.birth_date,
        member.relationship,
        position,
    )


async def _write(
    session: AsyncSession, connection: asyncpg.Connection, caller: Caller, plan: _Plan
) -> None:
    """The plan in one statement per kind of row, then its journal (audit entries and change
    events) through the journal's own bulk step."""
    if plan.gone_members:
        await connection.execute(
            "DELETE FROM kpm_member WHERE id = any($1::uuid[])", plan.gone_members
        )
    versions = await _update_families(connection, plan.changed_families)
    await _update_members(connection, plan.changed_members)
    await _copy(
        connection, "kpm_family", plan.new_families,
        ["id", "no_kk", "village_code", "address", "desil", "created_at", "updated_at"],
    )  # fmt: skip
    await _copy(connection, "kpm_member", plan.new_members, ["id", "family_id", *MEMBER_COLUMNS])
    await _copy(
        connection, "kpm_enrollment", plan.new_enrollments,
        ["id", "family_id", "program_code", "status", "started_on", "created_at", "updated_at"],
    )  # fmt: skip
    # A changed family's record is loaded back by the journal, set-based: its members and
    # enrollments are not all in memory.
    updated = [
        Write(
            "update",
            ENTITY,
            change.family_id,
            change.village_code,
            versions[change.family_id],
            change.changes,
            previous_region_code=change.previous_village_code,
        )
        for change in plan.changed_families
    ]
    await record_writes(session, caller, [*plan.created, *updated])


async def _copy(
    connection: asyncpg.Connection, table: str, rows: list[tuple[Any, ...]], columns: list[str]
) -> None:
    if rows:
        await connection.copy_records_to_table(table, records=rows, columns=columns)


async def _update_families(
    connection: asyncpg.Connection, changes: list[_FamilyChange]
) -> dict[uuid.UUID, int]:
    """Set the file's values on the changed families and take their next versions, in one
    statement; the new version of each family."""
    if not changes:
        return {}
    rows = await connection.fetch(
        "UPDATE kpm_family f SET village_code = v.village_code, address = v.address,"
        " desil = v.desil, version = f.version + 1, updated_at = now()"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[])"
        " AS v(id, village_code, address, desil) WHERE f.id = v.id RETURNING f.id, f.version",
        [change.family_id for change in changes],
        [change.village_code for change in changes],
        [change.address for change in changes],
        [change.desil for change in changes],
    )
    return {row["id"]: row["version"] for row in rows}


async def _update_members(connection: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows of ``(id, name, sex, birth_date, relationship, nik_mismatch, position)``, set in one
    statement from arrays."""
    if not rows:
        return
    await connection.execute(
        "UPDATE kpm_member m SET name = v.name, sex = v.sex, birth_date = v.birth_date,"
        " relationship = v.relationship, nik_mismatch = v.nik_mismatch, position = v.position"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::date[], $5::text[], $6::bool[],"
        " $7::int[]) AS v(id, name, sex, birth_date, relationship, nik_mismatch, position)"
        " WHERE m.id = v.id",
        *(list(column) for column in zip(*rows, strict=True)),
    )


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
    would cost more than the family's validation). A resumed import starts from the job's
    committed counts."""

    bytes_read: int = 0
    rows_read: int = 0
    families_read: int = 0
    families_created: int = 0
    families_updated: int = 0
    families_unchanged: int = 0
    families_refused: int = 0
    people_imported: int = 0

    @classmethod
    def of(cls, job: ImportJob) -> Tally:
        return cls(**{name: getattr(job, name) for name in cls.__dataclass_fields__})


@dataclass
class Batch:
    """A run of consecutive families of the file: those to write, those refused already, and
    how much of the file they took."""

    candidates: list[Candidate]
    refused: list[Refused]
    last: bool
    families: int = 0
    rows: int = 0
    bytes_read: int = 0


class StoredFile(io.RawIOBase):
    """A job's file as stored in the database (``kpm_import_chunk``), read as a binary stream by
    the reader's thread: each piece is fetched on the event loop, where the database
    connections live, one piece at a time."""

    def __init__(
        self,
        fetch: Callable[[int], Coroutine[Any, Any, bytes | None]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fetch = fetch
        self.count = 0  # bytes read, for the job's progress
        self.loop = loop
        self.position = 0
        self.piece = memoryview(b"")
        self.ended = False
        self.stopped = False

    def stop(self) -> None:
        """Read as the end of the file from now on (the import stops)."""
        self.stopped = True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self.piece:
            if self.ended or self.stopped:
                return 0
            future = asyncio.run_coroutine_threadsafe(self.fetch(self.position), self.loop)
            data = future.result()
            if data is None:
                self.ended = True
                return 0
            self.piece = memoryview(data)
            self.position += 1
        size = min(len(buffer), len(self.piece))
        buffer[:size] = self.piece[:size]
        self.piece = self.piece[size:]
        self.count += size
        return size


class BatchReader:
    """Reads, groups and checks families, a batch at a time. Runs in a worker thread, so the
    next batch is read and checked while the database writes the previous one."""

    def __init__(
        self,
        source: StoredFile,
        file_format: str,
        villages: frozenset[str],
        programs: frozenset[str],
    ) -> None:
        self.source = source
        buffered = io.BufferedReader(source, buffer_size=1 << 20)
        rows = csv_rows(buffered) if file_format == "csv" else ndjson_rows(buffered)
        self.families = families_in(rows)
        self.villages = villages
        self.programs = programs
        self.screen = FileScreen()
        self.today = today()

    def _check(self, rows: FamilyRows) -> tuple[FamilyDraft, list[Refused]]:
        draft = draft_of(rows)
        problems = check_family(
            draft, village_exists=self.villages, program_exists=self.programs, today=self.today
        )
        if problems:
            return draft, refusals_of_check(rows, draft, problems)
        duplicate = self.screen.screen(rows, draft)
        return draft, [duplicate] if duplicate is not None else []

    def skip(self, count: int) -> None:
        """Pass over the first ``count`` families, which an earlier run of the job committed:
        checked and screened as that run did, so that a family later in the file that repeats
        one of their NIKs or No KKs is refused as it would have been, but written nowhere."""
        for _ in range(count):
            rows = next(self.families, None)
            if rows is None:
                raise RuntimeError("the stored file is shorter than the job's progress")
            self._check(rows)

    def next_batch(self) -> Batch:
        batch = Batch([], [], last=False)
        # A new family's time, as a family created through the API takes it: when it is made.
        now = utcnow()
        for rows in self.families:
            batch.families += 1
            batch.rows += len(rows.rows)
            draft, refused = self._check(rows)
            if refused:
                batch.refused += refused
                continue
            batch.candidates.append(Candidate(rows, draft, NewFamily.of(draft, self.today, now)))
            if len(batch.candidates) >= BATCH_FAMILIES:
                batch.bytes_read = self.source.count
                return batch
        batch.bytes_read = self.source.count
        batch.last = True
        return batch

    def close(self) -> None:
        self.source.stop()


class LostClaim(Exception):
    """Another process has taken the job over (this one lost its claim) and committed a batch:
    this run stops without writing."""


async def read_chunk(
    sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID, position: int
) -> bytes | None:
    async with sessions() as session:
        data: bytes | None = await session.scalar(
            select(col(ImportChunk.data)).where(
                col(ImportChunk.job_id) == job_id, col(ImportChunk.position) == position
            )
        )
        return data


async def run_import(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    job_id: uuid.UUID,
    *,
    read_sessions: async_sessionmaker[AsyncSession] | None = None,
    on_progress: Progress | None = None,
    rate_limits: RateLimits | None = None,
) -> ImportJob:
    """Run job ``job_id``, or resume it where an earlier run stopped: a transaction per batch,
    with the job's counts (how many families of the file are done) and the batch's refusals
    committed together with its families. A run that dies leaves the job at the end of its
    last committed batch, and the next run skips exactly the families counted there, so none
    is written twice or left out, and the report ends as a clean run's would.

    Only one process runs a job at a time (the caller holds its claim, ``import_worker``); a
    run that lost its claim is stopped by the check of each batch (``LostClaim``). When this
    run is cancelled or the database goes away, the job stays ``running`` for the next run;
    any other error fails it. ``read_sessions`` read the stored file (default ``sessions``)."""
    async with sessions() as session, session.begin():
        job = await session.get(ImportJob, job_id, with_for_update=True)
        assert job is not None
        if job.status in ("done", "failed"):
            return job
        stored = await session.scalar(select(func.count()).where(col(ImportChunk.job_id) == job_id))
        if not stored and job.bytes_total:
            # Queued before uploads were kept in the database: its file is gone.
            return await _fail(session, job, "The import was interrupted; import the file again.")
        job.status = "running"
        villages = await village_codes(session)
        programs = await program_codes(session)
        file_format = job.format
        tally = Tally.of(job)
    loop = asyncio.get_running_loop()

    async def fetch(position: int) -> bytes | None:
        return await read_chunk(read_sessions or sessions, job_id, position)

    reader = BatchReader(StoredFile(fetch, loop), file_format, villages, programs)
    pending: asyncio.Future[Batch] | None = None
    try:
        if tally.families_read:
            await asyncio.to_thread(reader.skip, tally.families_read)
        pending = asyncio.ensure_future(asyncio.to_thread(reader.next_batch))
        while True:
            batch = await pending
            if not batch.last:
                pending = asyncio.ensure_future(asyncio.to_thread(reader.next_batch))
            job = await _commit_batch(
                sessions, caller, job_id, tally, batch, on_progress, rate_limits
            )
            if batch.last:
                return job
    except (LostClaim, asyncio.CancelledError):
        raise
    except Exception as error:
        if is_database_unavailable(error):
            raise  # the job stays running: resumed when the database is back
        async with sessions() as session, session.begin():
            failed = await session.get(ImportJob, job_id, with_for_update=True)
            assert failed is not None
            await _fail(
                session, failed, getattr(error, "detail", None) or "The import stopped on an error."
            )
        raise
    finally:
        reader.close()  # the reader's thread, if reading, ends at its next read
        if pending is not None and not pending.done():
            pending.cancel()


async def _fail(session: AsyncSession, job: ImportJob, error: str) -> ImportJob:
    job.status = "failed"
    job.error = error
    job.finished_at = utcnow()
    await session.execute(delete(ImportChunk).where(col(ImportChunk.job_id) == job.id))
    return job


async def _commit_batch(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    job_id: uuid.UUID,
    tally: Tally,
    batch: Batch,
    on_progress: Progress | None,
    rate_limits: RateLimits | None,
) -> ImportJob:
    """One transaction: the job's row locked and checked to stand where this run left it (so
    a run that lost its claim writes nothing), the batch's families, and the job's progress."""
    async with sessions() as session, session.begin():
        job = await session.get(ImportJob, job_id, with_for_update=True, populate_existing=True)
        if job is None or job.status != "running" or job.families_read != tally.families_read:
            raise LostClaim(str(job_id))
        try:
            async with session.begin_nested():
                result = await write_batch(session, caller, batch.candidates, rate_limits)
        except (IntegrityError, asyncpg.UniqueViolationError):
            # Someone registered one of these NIKs or No KKs while the batch ran: settle the
            # batch family by family, so only the family that clashes is refused.
            result = BatchResult()
            for candidate in batch.candidates:
                try:
                    async with session.begin_nested():
                        single = await write_batch(session, caller, [candidate], rate_limits)
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
        await _record_progress(session, job, tally, result, batch)
    if on_progress is not None:
        outcome = on_progress(job)
        if outcome is not None:
            await outcome
    return job


async def _record_progress(
    session: AsyncSession, job: ImportJob, tally: Tally, result: BatchResult, batch: Batch
) -> None:
    all_refused = batch.refused + result.refused
    tally.bytes_read = batch.bytes_read
    tally.rows_read += batch.rows
    tally.families_read += batch.families
    tally.families_created += result.created
    tally.families_updated += result.updated
    tally.families_unchanged += result.unchanged
    tally.people_imported += result.people
    tally.families_refused += len({id(r.family) for r in all_refused})
    for name, value in vars(tally).items():
        setattr(job, name, value)
    if batch.last:
        job.status = "done"
        job.finished_at = utcnow()
        # The file has served: its pieces go with the batch that ends the job.
        await session.execute(delete(ImportChunk).where(col(ImportChunk.job_id) == job.id))
    session.add_all(
        ImportRefusal(
            job_id=job.id,
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
