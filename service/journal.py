"""The write path's bookkeeping, in one place: every writer journals through these functions in
its own transaction, so the audit trail and the change feed can never disagree with the data.

- ``record_write``: one record created, archived, moved through a status...;
- ``apply_update`` / ``record_change``: the change step (next version, then journal);
- ``record_writes``: many records at once (imports, batches), with COPY;
- ``record_reads``: unmasked personal data leaving the service, one entry per record.

The audit and change-event rows themselves are built once, by ``_audit_row`` and ``_event_row``.
A change event carries the record as the REST read of it shows it after the write: a writer
that holds it already (the bulk import) passes it as ``payload``; for every other write the
journal loads it, set-based, through ``service.changes.payloads``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Insert, Text, cast, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access import Caller
from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from service.database import driver_connection
from service.records import RecordColumns

MASK = "***"

# A record as a change event carries it: the REST output model, that model dumped (a dict), or
# already serialized as JSON text (the bulk import prepares it off the event loop).
Payload = BaseModel | dict[str, Any] | str


def field_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], personal: Iterable[str] = ()
) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the fields that differ, personal values masked."""
    hidden = set(personal)
    changed: dict[str, list[Any]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            changed[name] = [MASK, MASK] if name in hidden else [_plain(old), _plain(new)]
    return changed


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


async def record_write(
    session: AsyncSession,
    caller: Caller,
    *,
    action: str,
    entity: str,
    record_id: object,
    region_code: str | None,
    version: int | None,
    changes: dict[str, list[Any]] | None,
    publish: bool = True,
    previous_region_code: str | None = None,
) -> None:
    """Audit a write and, for records other offices share (``publish``), emit a change event
    carrying the record as a REST read shows it after the write (unmasked; the feed masks it
    per reader). ``previous_region_code`` is the region the write moved the record out of.
    Pending changes of the session are flushed first, so the journal follows the data."""
    write = Write(
        action, entity, record_id, region_code, version, changes, None, previous_region_code
    )
    await session.flush()
    await session.execute(insert(AuditEntry), [_audit_row(caller, write)])
    if publish:
        (event,) = await _with_payloads(session, [write])
        row = _event_row(caller, event)
        if isinstance(row["payload"], BaseModel):
            row["payload"] = row["payload"].model_dump(mode="json")
        elif isinstance(row["payload"], str):
            row["payload"] = json.loads(row["payload"])
        await session.execute(insert(ChangeEvent), [row])


R = TypeVar("R", bound=RecordColumns)


async def apply_update(
    session: AsyncSession,
    caller: Caller,
    record: R,
    sent: Mapping[str, Any],
    *,
    snapshot: Callable[[R], dict[str, Any]],
    entity: str,
    region_of: Callable[[R], str | None],
    personal: Iterable[str] = (),
) -> dict[str, list[Any]]:
    """Set the fields a client sent and, when anything really changed, take the next version
    and journal the change (audit and change event), ``personal`` values masked. A change to
    nothing writes nothing. A change that moves the record to another region says which one it
    left, so readers of that region see it leave. A caller whose write may hit a unique index
    runs this inside its savepoint, so the conflict comes out as an ``IntegrityError`` it can
    map."""
    before, region_before = snapshot(record), region_of(record)
    for name, value in sent.items():
        setattr(record, name, value)
    changes = field_changes(before, snapshot(record), personal)
    if changes:
        region = region_of(record)
        await record_change(
            session,
            caller,
            record,
            entity=entity,
            region_code=region,
            changes=changes,
            previous_region_code=region_before if region_before != region else None,
        )
    return changes


async def record_change(
    session: AsyncSession,
    caller: Caller,
    record: RecordColumns,
    *,
    action: str = "update",
    entity: str,
    region_code: str | None,
    changes: dict[str, list[Any]],
    previous_region_code: str | None = None,
) -> None:
    """The change step: the record takes the next version, then the change is journaled. Field
    changes come through ``apply_update``; this serves every other change of a record too: what
    it holds (a member added, a session held), a status transition, an archive, a visit."""
    record.touch()
    await session.flush()
    await record_write(
        session,
        caller,
        action=action,
        entity=entity,
        record_id=record.id,
        region_code=region_code,
        version=record.version,
        changes=changes,
        previous_region_code=previous_region_code,
    )


async def record_reads(
    session: AsyncSession, caller: Caller, entity: str, records: Sequence[tuple[object, str | None]]
) -> None:
    """Reads of unmasked personal data are audited too (no change event): one entry per record
    whose data leaves, (id, region) each, written before it leaves, so the trail says whose
    personal data was read, not only that a list or a file was. Every read of personal data,
    by id, in a list or in an export, comes here."""
    if not records:
        return
    # One row built the one way, then only what differs per record, as tuples for COPY: a
    # feed page audits thousands of reads, and a row built per read cost more than its COPY.
    template = _audit_row(caller, Write("read_pii", entity, "", None, None, None))
    shared = {name: value for name, value in template.items() if name not in _PER_READ}
    head = tuple(shared.values())
    await (await driver_connection(session)).copy_records_to_table(
        "audit_entry",
        records=[(*head, str(record_id), region) for record_id, region in records],
        columns=[*shared, *_PER_READ],
    )


# What differs between the audit entries of one read (in this order).
_PER_READ = ("record_id", "region_code")


def read_audit(
    caller: Caller,
    entity: str,
    record_id: ColumnElement[Any],
    region_code: ColumnElement[Any],
    *,
    request_id: ColumnElement[Any] | None = None,
) -> Insert:
    """``record_reads`` as SQL, for a read of one statement: one entry per row of the query
    that ``record_id`` and ``region_code`` are columns of. Used as a data-modifying CTE of the
    read itself, it is committed with the read, before the answer can leave. ``request_id``
    stands for the caller's (a ``bindparam`` of a statement kept for many requests)."""
    template = _audit_row(caller, Write("read_pii", entity, "", None, None, None))
    columns = AuditEntry.__table__.c  # type: ignore[attr-defined]
    values = {
        **{name: literal(value, columns[name].type) for name, value in template.items()},
        "record_id": cast(record_id, Text),
        "region_code": region_code,
        **({"request_id": request_id} if request_id is not None else {}),
    }
    # The columns the rows name, and the database's own defaults for the rest (the time).
    return insert(AuditEntry).from_select(
        list(values), select(*values.values()), include_defaults=False
    )


@dataclass(frozen=True)
class Write:
    """One write of a bulk operation, for ``record_writes``."""

    action: str
    entity: str
    record_id: object
    region_code: str | None
    version: int | None
    changes: dict[str, list[Any]] | None
    # The record after the write, when the writer holds it already; otherwise loaded.
    payload: Payload | None = None
    previous_region_code: str | None = None
    # False for a change that follows from another, audited write (a payment moving its
    # allocation's sums): published in the feed, not audited twice.
    audited: bool = True


async def record_writes(
    session: AsyncSession, caller: Caller, writes: Sequence[Write], *, publish: bool = True
) -> None:
    """``record_write`` for many records at once: one audit entry (and one change event) per
    record, written with COPY, in the same transaction as the writes."""
    if not writes:
        return
    connection = await driver_connection(session)
    audit = [_audit_row(caller, write) for write in writes if write.audited]
    for row in audit:  # COPY takes JSON as text
        if row["changes"] is not None:
            row["changes"] = json.dumps(row["changes"], default=str)
    if audit:
        await _copy_rows(connection, "audit_entry", audit)
    if publish:
        events = [_event_row(caller, write) for write in await _with_payloads(session, writes)]
        for row in events:
            payload = row["payload"]
            if isinstance(payload, BaseModel):
                row["payload"] = payload.model_dump_json()
            elif isinstance(payload, dict):
                row["payload"] = json.dumps(payload, default=str)
        await _copy_rows(connection, "change_event", events)


async def _with_payloads(session: AsyncSession, writes: Sequence[Write]) -> list[Write]:
    """``writes`` with the record each one leaves behind, loaded by type in one go for those
    whose writer did not bring it; a record that no longer exists leaves none."""
    # Imported here: the record types' modules journal through this one.
    from service.changes.payloads import current_records

    missing: dict[str, set[str]] = defaultdict(set)
    for write in writes:
        if write.payload is None:
            missing[write.entity].add(str(write.record_id))
    if missing:
        await session.flush()  # the records as written, pending ORM changes included
    loaded = {
        entity: await current_records(session, entity, ids) for entity, ids in missing.items()
    }
    return [
        write
        if write.payload is not None
        else replace(write, payload=loaded[write.entity].get(str(write.record_id)))
        for write in writes
    ]


# The two rows every write leaves behind, defined once for the single and the bulk path.


def _audit_row(caller: Caller, write: Write) -> dict[str, Any]:
    return {
        "client_id": caller.client_id,
        "actor": caller.name,
        "action": write.action,
        "entity": write.entity,
        "record_id": str(write.record_id),
        "region_code": write.region_code,
        "changes": write.changes,
        "request_id": caller.request_id,
    }


def event_row(caller: Caller, write: Write) -> dict[str, Any]:
    """The change event of ``write`` as column values, for a writer whose own statement inserts
    it (a data-modifying CTE that must not wait a round trip for it)."""
    return _event_row(caller, write)


def _event_row(caller: Caller, write: Write) -> dict[str, Any]:
    return {
        "entity": write.entity,
        "record_id": str(write.record_id),
        "action": write.action,
        "region_code": write.region_code,
        "version": write.version,
        "changed_fields": sorted(write.changes) if write.changes else None,
        "client_id": caller.client_id,
        "payload": write.payload,
        "previous_region_code": write.previous_region_code,
    }


async def _copy_rows(connection: Any, table: str, rows: Sequence[dict[str, Any]]) -> None:
    columns = list(rows[0])
    values = itemgetter(*columns)  # in C: an import copies tens of thousands of rows
    await connection.copy_records_to_table(
        table, records=[values(row) for row in rows], columns=columns
    )
