"""The write path's bookkeeping: every service function that writes calls ``record_write`` in
the same transaction, so the audit trail and the change feed can never disagree with the data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from service.access import Caller
from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from service.database import driver_connection
from service.records import RecordColumns

MASK = "***"


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
) -> None:
    """Audit a write and, for records other offices share (``publish``), emit a change event."""
    session.add(
        AuditEntry(
            client_id=caller.client_id,
            actor=caller.name,
            action=action,
            entity=entity,
            record_id=str(record_id),
            region_code=region_code,
            changes=changes,
            request_id=caller.request_id,
        )
    )
    if publish:
        session.add(
            ChangeEvent(
                entity=entity,
                record_id=str(record_id),
                action=action,
                region_code=region_code,
                version=version,
                changed_fields=sorted(changes) if changes else None,
                client_id=caller.client_id,
            )
        )
    await session.flush()


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
    nothing writes nothing. A caller whose write may hit a unique index runs this inside its
    savepoint, so the conflict comes out as an ``IntegrityError`` it can map."""
    before = snapshot(record)
    for name, value in sent.items():
        setattr(record, name, value)
    changes = field_changes(before, snapshot(record), personal)
    if changes:
        await record_update(
            session, caller, record, entity=entity, region_code=region_of(record), changes=changes
        )
    return changes


async def record_update(
    session: AsyncSession,
    caller: Caller,
    record: RecordColumns,
    *,
    entity: str,
    region_code: str | None,
    changes: dict[str, list[Any]],
) -> None:
    """The update step: the record takes the next version and the change is journaled. For
    field changes go through ``apply_update``; this is for a change to what a record holds (a
    member added, a session held), which is a change of the record all the same."""
    record.touch()
    await session.flush()
    await record_write(
        session,
        caller,
        action="update",
        entity=entity,
        record_id=record.id,
        region_code=region_code,
        version=record.version,
        changes=changes,
    )


async def record_reads(
    session: AsyncSession, caller: Caller, entity: str, records: Sequence[tuple[object, str | None]]
) -> None:
    """Reads of unmasked personal data are audited too (no change event): one entry per record
    whose data leaves, (id, region) each, written before it leaves, so the trail says whose
    personal data was read, not only that a list or a file was. Every read of personal data,
    by id, in a list or in an export, comes here."""
    await record_writes(
        session,
        caller,
        [Write("read_pii", entity, record_id, region, None, None) for record_id, region in records],
        publish=False,
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


async def record_writes(
    session: AsyncSession, caller: Caller, writes: Sequence[Write], *, publish: bool = True
) -> None:
    """``record_write`` for many records at once: one audit entry (and one change event) per
    record, written with COPY, in the same transaction as the writes."""
    if not writes:
        return
    connection = await driver_connection(session)
    await connection.copy_records_to_table(
        "audit_entry",
        records=[
            (
                caller.client_id,
                caller.name,
                write.action,
                write.entity,
                str(write.record_id),
                write.region_code,
                json.dumps(write.changes, default=str) if write.changes is not None else None,
                caller.request_id,
            )
            for write in writes
        ],
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
    if publish:
        await connection.copy_records_to_table(
            "change_event",
            records=[
                (
                    write.entity,
                    str(write.record_id),
                    write.action,
                    write.region_code,
                    write.version,
                    sorted(write.changes) if write.changes else None,
                    caller.client_id,
                )
                for write in writes
            ],
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
