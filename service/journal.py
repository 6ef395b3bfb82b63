"""The write path's bookkeeping: every service function that writes calls ``record_write`` in
the same transaction, so the audit trail and the change feed can never disagree with the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.access import Caller
from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent

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


async def record_read(
    session: AsyncSession,
    caller: Caller,
    *,
    entity: str,
    record_id: object,
    region_code: str | None,
) -> None:
    """Reads of unmasked personal data are audited too (no change event)."""
    session.add(
        AuditEntry(
            client_id=caller.client_id,
            actor=caller.name,
            action="read_pii",
            entity=entity,
            record_id=str(record_id),
            region_code=region_code,
            request_id=caller.request_id,
        )
    )
    await session.flush()
