"""Creating disbursements, one or ten thousand at a time, with the same rules.

Each item either goes in or is refused on its own. The work is set-based, so a batch costs a
handful of statements whatever its size:

1. look up the recipients, and lock the allocations the items draw on (in id order, so two
   batches never wait for each other in a circle);
2. check every item against the rules and the budget still free, in item order;
3. insert the accepted items with one COPY; should another request have won a race to a unique
   index meanwhile, with one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING``
   instead, so the item that lost is refused, not the batch;
4. add what went in to each allocation's ``committed`` sum, in one conditional ``UPDATE``; the
   database's CHECK (committed <= amount) stands behind the arithmetic;
5. append the history, the audit entries and the change events, all in one statement that
   builds them from the new rows (only their ids travel).

A single payment (REST's and GraphQL's ``createDisbursement``, whenever the caller has pooled
single statements) takes ``service.disbursements.payment``'s two statements. On the general
path of ``service.idempotency`` (a key in use, abandoned or expired, a payment that waited too
long for its allocation, or a caller without pooled statements) it is ``create_payment``, which
takes its allocation's lock last: parallel payments against one allocation queue on its row,
and a lock taken in step 1 would be held through the insert, the history, the journal and the
stored answer. It reads the allocation unlocked (a payment that clearly does not fit is still
refused early, with the same message), writes everything else, and leaves the conditional
``UPDATE`` to a ``BudgetCharge`` its caller runs just before commit: the row is locked for one
statement and the commit, and a payment that no longer fits then fails the whole transaction
with the same refusal. Holding no allocation lock while it inserts, it can wait in a circle with
a batch (the batch holds the allocation and waits for a period or reference the payment just
took); PostgreSQL breaks such a circle and ``service.idempotency`` runs the work again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.disbursements import DisbursementCreate, DisbursementOut
from service.access import Caller
from service.allocations.sums import RETURNED_COLUMNS, charge, sums_changed
from service.database import driver_connection
from service.disbursements.history import Step, record_steps
from service.disbursements.queries import present_disbursement
from service.disbursements.recipients import recipient_regions
from service.disbursements.rules import ENTITY, WRITE_SCOPE, Refusal, period_year
from service.disbursements.tables import Disbursement
from service.journal import Write, record_writes
from service.regions.codes import contains


@dataclass
class ItemOutcome:
    index: int
    disbursement_id: uuid.UUID | None = None
    amount: int = 0
    refusal: Refusal | None = None
    # A single payment's new disbursement as a read of it shows it (``create_payment`` only: a
    # batch's items are journaled by the database from their rows, see step 5).
    record: DisbursementOut | None = None


@dataclass(frozen=True)
class Accepted:
    index: int
    item: DisbursementCreate
    disbursement_id: uuid.UUID
    program_code: str
    region_code: str


# (recipient_id, recipient_kind, program_code, period): the once-per-period key.
_PeriodKey = tuple[uuid.UUID, str, str, str]


@dataclass
class CheckContext:
    """What the checks need to know, looked up for all the items at once."""

    allocations: dict[uuid.UUID, asyncpg.Record]
    recipients: dict[tuple[str, uuid.UUID], str]
    remaining: dict[uuid.UUID, int]
    taken_periods: set[_PeriodKey]
    taken_references: set[str]
    # The transaction's time: the new rows take it as created_at and updated_at (server default).
    written_at: dt.datetime


async def create_disbursements(
    session: AsyncSession, caller: Caller, items: Sequence[DisbursementCreate | Refusal]
) -> list[ItemOutcome]:
    """Create what can be created; ``items`` may hold refusals already (items that were not
    even well-formed), which are reported in their place."""
    outcomes, created, context = await _write(session, caller, items, lock_allocations=True)
    connection = await driver_connection(session)
    # The allocations are locked and the sums were checked against them: they fit.
    budget_changes = await _charge(connection, created)
    if budget_changes is None:
        raise RuntimeError("an allocation's committed sum would exceed its amount")
    if created and context is not None:
        await _journal_created(connection, caller, created, context.written_at)
    await record_writes(session, caller, budget_changes)
    return outcomes


@dataclass(frozen=True)
class BudgetCharge:
    """A payment written but not yet counted against its allocation: ``apply`` does that, with
    one conditional ``UPDATE`` that locks the allocation's row until the commit, so run it last,
    just before the commit. No room left: it raises the refusal, and the transaction, payment
    and all, must roll back."""

    caller: Caller
    created: Accepted
    # The allocation's row as the payment read it.
    allocation: asyncpg.Record

    async def apply(self, session: AsyncSession) -> None:
        item = self.created.item
        if not await charge(session, self.caller, self.allocation, item.amount):
            remaining: int = await (await driver_connection(session)).fetchval(
                "SELECT amount - committed FROM budget_allocation WHERE id = $1",
                item.allocation_id,
            )
            raise exhausted(remaining).as_error()


async def create_payment(
    session: AsyncSession, caller: Caller, item: DisbursementCreate
) -> tuple[ItemOutcome, BudgetCharge | None]:
    """One disbursement, its allocation not locked: the ``BudgetCharge`` (none when refused)
    must be applied before the commit."""
    (outcome,), created, context = await _write(session, caller, [item], lock_allocations=False)
    if not created or context is None:
        return outcome, None
    await record_steps(
        session, caller, [Step(entry.disbursement_id, None, "scheduled") for entry in created]
    )
    entries = [_journal_entry(entry, context.written_at) for entry in created]
    outcome.record = cast(DisbursementOut, entries[0].payload)
    await record_writes(session, caller, entries)
    return outcome, BudgetCharge(caller, created[0], context.allocations[item.allocation_id])


async def _write(
    session: AsyncSession,
    caller: Caller,
    items: Sequence[DisbursementCreate | Refusal],
    *,
    lock_allocations: bool,
) -> tuple[list[ItemOutcome], list[Accepted], CheckContext | None]:
    """Steps 1 to 3: the outcomes, the items that went in and what the checks looked up (none
    when no item was even well-formed)."""
    caller.require(WRITE_SCOPE)
    outcomes = [ItemOutcome(index) for index in range(len(items))]
    valid: list[tuple[int, DisbursementCreate]] = []
    for index, item in enumerate(items):
        if isinstance(item, Refusal):
            outcomes[index].refusal = item
        else:
            valid.append((index, item))
    if not valid:
        return outcomes, [], None
    connection = await driver_connection(session)
    context = await _look_up(session, connection, [item for _, item in valid], lock_allocations)

    accepted: list[Accepted] = []
    for index, item in valid:
        refusal = check_item(caller, item, context)
        if refusal is not None:
            outcomes[index].refusal = refusal
            continue
        allocation = context.allocations[item.allocation_id]
        program = allocation["program_code"]
        if item.period is not None:
            context.taken_periods.add(
                (item.recipient_id, item.recipient_kind.value, program, item.period)
            )
        if item.external_reference is not None:
            context.taken_references.add(item.external_reference)
        context.remaining[item.allocation_id] -= item.amount
        accepted.append(
            Accepted(
                index,
                item,
                uuid.uuid4(),
                program,
                context.recipients[(item.recipient_kind.value, item.recipient_id)],
            )
        )

    inserted = await _insert(session, connection, accepted)
    lost = [entry for entry in accepted if entry.disbursement_id not in inserted]
    for entry, refusal in zip(lost, await _race_refusals(connection, lost), strict=True):
        outcomes[entry.index].refusal = refusal
    created = [entry for entry in accepted if entry.disbursement_id in inserted]
    for entry in created:
        outcomes[entry.index].disbursement_id = entry.disbursement_id
        outcomes[entry.index].amount = entry.item.amount
    return outcomes, created, context


async def _look_up(
    session: AsyncSession,
    connection: asyncpg.Connection,
    items: list[DisbursementCreate],
    lock_allocations: bool,
) -> CheckContext:
    recipients: dict[tuple[str, uuid.UUID], str] = {}
    by_kind: dict[str, set[uuid.UUID]] = defaultdict(set)
    for item in items:
        by_kind[item.recipient_kind.value].add(item.recipient_id)
    for kind, ids in by_kind.items():
        for recipient_id, region in (await recipient_regions(session, kind, ids)).items():
            recipients[(kind, recipient_id)] = region

    # Locked, the budget checked below stays true until we commit; unlocked, the check is only
    # a first look and the conditional UPDATE of the BudgetCharge decides.
    allocation_rows = await connection.fetch(
        f"SELECT {RETURNED_COLUMNS}, a.amount - a.committed AS remaining,"
        " now() AS written_at FROM budget_allocation a WHERE id = any($1::uuid[]) ORDER BY id"
        + (" FOR UPDATE" if lock_allocations else ""),
        sorted({item.allocation_id for item in items}),
    )
    allocations = {row["id"]: row for row in allocation_rows}

    period_rows = await connection.fetch(
        "SELECT recipient_id, recipient_kind, program_code, period FROM disbursement"
        " WHERE recipient_id = any($1::uuid[]) AND period IS NOT NULL"
        " AND status NOT IN ('failed', 'reversed')",
        list({item.recipient_id for item in items if item.period is not None}),
    )
    references = [item.external_reference for item in items if item.external_reference]
    reference_rows = (
        await connection.fetch(
            "SELECT external_reference FROM disbursement"
            " WHERE external_reference = any($1::text[])",
            references,
        )
        if references
        else []
    )
    return CheckContext(
        allocations=allocations,
        recipients=recipients,
        remaining={row["id"]: row["remaining"] for row in allocation_rows},
        taken_periods={
            (row["recipient_id"], row["recipient_kind"], row["program_code"], row["period"])
            for row in period_rows
        },
        taken_references={row["external_reference"] for row in reference_rows},
        written_at=allocation_rows[0]["written_at"]
        if allocation_rows
        else await connection.fetchval("SELECT now()"),
    )


def check_item(caller: Caller, item: DisbursementCreate, context: CheckContext) -> Refusal | None:
    """The rules for one item, in the order a single request reports them."""
    allocation = context.allocations.get(item.allocation_id)
    if allocation is None:
        return Refusal("unknown_allocation", "allocation_id", "No allocation with that id.")
    # Paying spends the allocation: the caller must be able to change it.
    if not caller.can_write(allocation["region_code"]):
        return Refusal(
            "outside_region", "allocation_id", "The allocation lies outside your region."
        )
    kind = item.recipient_kind.value
    region = context.recipients.get((kind, item.recipient_id))
    if region is None:
        return Refusal("unknown_recipient", "recipient_id", f"No live {kind} with that id.")
    if not caller.can_write(region):
        return Refusal("outside_region", "recipient_id", "The recipient lies outside your region.")
    if not contains(allocation["region_code"], region):
        return Refusal(
            "recipient_outside_allocation",
            "recipient_id",
            f"The recipient lives outside the allocation's region {allocation['region_code']}.",
        )
    if item.period is not None:
        if period_year(item.period) != allocation["fiscal_year"]:
            return Refusal(
                "period_outside_fiscal_year",
                "period",
                f"The allocation is for fiscal year {allocation['fiscal_year']}.",
            )
        key = (item.recipient_id, kind, allocation["program_code"], item.period)
        if key in context.taken_periods:
            return Refusal(
                "duplicate_disbursement",
                "period",
                f"The recipient already has a {allocation['program_code']} disbursement for "
                f"{item.period}.",
            )
    if item.external_reference is not None and item.external_reference in context.taken_references:
        return Refusal(
            "duplicate_external_reference",
            "external_reference",
            "Another disbursement has that reference.",
        )
    if item.amount > context.remaining[item.allocation_id]:
        return exhausted(context.remaining[item.allocation_id])
    return None


def exhausted(remaining: int) -> Refusal:
    return Refusal(
        "allocation_exhausted", "amount", f"The allocation has {max(remaining, 0)} rupiah left."
    )


_COLUMNS = [
    "id",
    "allocation_id",
    "program_code",
    "recipient_kind",
    "recipient_id",
    "region_code",
    "amount",
    "purpose",
    "channel",
    "period",
    "status",
    "external_reference",
]


# Fewer items than this go in with one INSERT: for them a savepoint and a COPY cost more.
_COPY_FROM = 50


async def _insert(
    session: AsyncSession, connection: asyncpg.Connection, accepted: list[Accepted]
) -> set[uuid.UUID]:
    """The accepted items, many with COPY: the checks above already refused every item that
    would break a unique index, so this nearly always succeeds. Should a concurrent request
    have taken a period or a reference since, the COPY is undone and the items go in one by one
    where they still can (``ON CONFLICT DO NOTHING``), as a few items always do."""
    if not accepted:
        return set()
    rows = [
        (
            e.disbursement_id,
            e.item.allocation_id,
            e.program_code,
            e.item.recipient_kind.value,
            e.item.recipient_id,
            e.region_code,
            e.item.amount,
            e.item.purpose,
            e.item.channel.value,
            e.item.period,
            "scheduled",
            e.item.external_reference,
        )
        for e in accepted
    ]
    if len(accepted) < _COPY_FROM:
        return await _insert_each(connection, rows)
    try:
        async with session.begin_nested():
            # The COPY bypasses the session: make it emit its SAVEPOINT first.
            await session.connection()
            await connection.copy_records_to_table("disbursement", records=rows, columns=_COLUMNS)
        return {e.disbursement_id for e in accepted}
    except asyncpg.UniqueViolationError:
        return await _insert_each(connection, rows)


async def _insert_each(
    connection: asyncpg.Connection, rows: list[tuple[Any, ...]]
) -> set[uuid.UUID]:
    """The rows that still fit the unique indexes; the others are left out."""
    inserted = await connection.fetch(
        f"INSERT INTO disbursement ({', '.join(_COLUMNS)})"
        " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[],"
        " $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[],"
        " $12::text[]) ON CONFLICT DO NOTHING RETURNING id",
        *(list(column) for column in zip(*rows, strict=True)),
    )
    return {row["id"] for row in inserted}


async def _race_refusals(connection: asyncpg.Connection, lost: list[Accepted]) -> list[Refusal]:
    """Items another request beat to a unique index between our checks and our insert."""
    if not lost:
        return []
    references = [e.item.external_reference for e in lost if e.item.external_reference]
    taken = {
        row["external_reference"]
        for row in await connection.fetch(
            "SELECT external_reference FROM disbursement"
            " WHERE external_reference = any($1::text[])",
            references,
        )
    }
    return [
        Refusal(
            "duplicate_external_reference",
            "external_reference",
            "Another disbursement has that reference.",
        )
        if entry.item.external_reference in taken
        else Refusal(
            "duplicate_disbursement",
            "period",
            "The recipient already has a disbursement of this program for that period.",
        )
        for entry in lost
    ]


async def _charge(connection: asyncpg.Connection, created: list[Accepted]) -> list[Write] | None:
    """Add the payments to their allocations' committed sums, in id order (the order every
    writer locks allocations in); the sums' change events, or None when an allocation has no
    room left for them (then the transaction must roll back)."""
    sums: dict[uuid.UUID, int] = defaultdict(int)
    for entry in created:
        sums[entry.item.allocation_id] += entry.item.amount
    if not sums:
        return []
    ids = sorted(sums)
    updated = await connection.fetch(
        "UPDATE budget_allocation a SET committed = a.committed + s.amount"
        " FROM unnest($1::uuid[], $2::bigint[]) AS s(id, amount)"
        " WHERE a.id = s.id AND a.committed + s.amount <= a.amount"
        f" RETURNING {RETURNED_COLUMNS}",
        ids,
        [sums[allocation_id] for allocation_id in ids],
    )
    if len(updated) != len(ids):
        return None
    return sums_changed(updated, sums)


# The journal of new disbursements, written by the database from their rows: the history step,
# the audit entry (the changes ``_journal_entry`` lists) and the change event (the record as
# ``present_disbursement`` shows it, every field of ``DisbursementOut`` from its column, the
# times as Pydantic writes them: the rows share the transaction's time), in item order.
CHANGES_SQL = (
    "jsonb_build_object('allocation_id', jsonb_build_array(NULL, d.allocation_id::text),"
    " 'recipient', jsonb_build_array(NULL, d.recipient_kind || ':' || d.recipient_id::text),"
    " 'amount', jsonb_build_array(NULL, d.amount), 'status', jsonb_build_array(NULL, d.status))"
    " || CASE WHEN d.period IS NULL THEN '{}'::jsonb"
    " ELSE jsonb_build_object('period', jsonb_build_array(NULL, d.period)) END"
)
CHANGED_FIELDS_SQL = (
    "CASE WHEN d.period IS NULL THEN ARRAY['allocation_id', 'amount', 'recipient', 'status']"
    " ELSE ARRAY['allocation_id', 'amount', 'period', 'recipient', 'status'] END"
)


def record_json(time_text: str) -> str:
    """The new disbursement ``d`` as ``present_disbursement`` shows it, in SQL: every field of
    ``DisbursementOut`` from its column, its two times the text ``time_text``."""
    return (
        "jsonb_build_object("
        + ", ".join(
            f"'{name}', " + (time_text if name in ("created_at", "updated_at") else f"d.{name}")
            for name in DisbursementOut.model_fields
        )
        + ")"
    )


# A time as Pydantic writes it in JSON (UTC, ``Z``, the microseconds only when there are any).
def json_time(column: str) -> str:
    return (
        f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN extract(microseconds FROM {column})::bigint % 1000000 = 0 THEN ''"
        f" ELSE to_char({column} AT TIME ZONE 'UTC', '.US') END || 'Z'"
    )


_PAYLOAD = record_json("$5::text")
_JOURNAL = (
    "WITH new AS (SELECT d.*, n.ord FROM unnest($1::uuid[]) WITH ORDINALITY AS n(id, ord)"
    " JOIN disbursement d USING (id)),"
    " step AS (INSERT INTO disbursement_transition (disbursement_id, to_status, by_client, actor,"
    " request_id) SELECT d.id, d.status, $2, $3, $4 FROM new d ORDER BY d.ord),"
    " audited AS (INSERT INTO audit_entry (client_id, actor, action, entity, record_id,"
    f" region_code, changes, request_id) SELECT $2, $3, 'create', '{ENTITY}', d.id::text,"
    f" d.region_code, {CHANGES_SQL}, $4 FROM new d ORDER BY d.ord)"
    " INSERT INTO change_event (entity, record_id, action, region_code, version, changed_fields,"
    f" client_id, payload) SELECT '{ENTITY}', d.id::text, 'create', d.region_code, d.version,"
    f" {CHANGED_FIELDS_SQL}, $2, {_PAYLOAD} FROM new d ORDER BY d.ord"
)
_TIME = TypeAdapter(dt.datetime)


async def _journal_created(
    connection: asyncpg.Connection,
    caller: Caller,
    created: list[Accepted],
    written_at: dt.datetime,
) -> None:
    """Step 5 for the new disbursements, in one statement: only their ids travel."""
    await connection.execute(
        _JOURNAL,
        [entry.disbursement_id for entry in created],
        caller.client_id,
        caller.name,
        caller.request_id,
        _TIME.dump_python(written_at, mode="json"),
    )


@dataclass(frozen=True)
class _WrittenRow:
    """A new disbursement's columns, as its row holds them after the insert: the change event
    carries it through ``present_disbursement`` without reading the row back."""

    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    allocation_id: uuid.UUID
    program_code: str
    recipient_kind: str
    recipient_id: uuid.UUID
    region_code: str
    amount: int
    purpose: str
    channel: str
    period: str | None
    status: str
    external_reference: str | None


def _journal_entry(entry: Accepted, written_at: dt.datetime) -> Write:
    item = entry.item
    changes: dict[str, list[Any]] = {
        "allocation_id": [None, str(item.allocation_id)],
        "recipient": [None, f"{item.recipient_kind.value}:{item.recipient_id}"],
        "amount": [None, item.amount],
        "status": [None, "scheduled"],
    }
    if item.period is not None:
        changes["period"] = [None, item.period]
    row = _WrittenRow(
        id=entry.disbursement_id,
        created_at=written_at,
        updated_at=written_at,
        version=1,
        allocation_id=item.allocation_id,
        program_code=entry.program_code,
        recipient_kind=item.recipient_kind.value,
        recipient_id=item.recipient_id,
        region_code=entry.region_code,
        amount=item.amount,
        purpose=item.purpose,
        channel=item.channel.value,
        period=item.period,
        status="scheduled",
        external_reference=item.external_reference,
    )
    return Write(
        action="create",
        entity=ENTITY,
        record_id=entry.disbursement_id,
        region_code=entry.region_code,
        version=1,
        changes=changes,
        payload=present_disbursement(cast(Disbursement, row)),
    )
