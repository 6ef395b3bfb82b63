"""The change events of an allocation's running sums. Payments move ``committed`` and
``confirmed`` without the office touching the allocation (its version stays, so an office's
If-Match is not disturbed by payments); the change feed still carries each such change, with
the allocation as it stands after it, so a copy of the budget stays current."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from service.access import Caller
from service.allocations.tables import Allocation
from service.allocations.views import present_allocation
from service.database import driver_connection
from service.journal import Write, event_row, record_writes

ENTITY = "allocation"
# What the ``UPDATE ... RETURNING`` of a sums change gives back, for ``sums_changed``: the whole
# row, so the event carries the allocation as it stands without reading it again (a read after
# the UPDATE would hold the row's lock one round trip longer).
RETURNED_COLUMNS = ", ".join(f"a.{name}" for name in Allocation.model_fields)


def sums_changed(
    rows: Sequence[asyncpg.Record],
    committed: Mapping[Any, int],
    confirmed: Mapping[Any, int] | None = None,
) -> list[Write]:
    """One change event per allocation whose sums moved: ``rows`` are the allocations after the
    change (``RETURNED_COLUMNS``), ``committed``/``confirmed`` what was added to each."""
    writes = []
    for row in rows:
        changes: dict[str, list[Any]] = {}
        for name, added in (("committed", committed), ("confirmed", confirmed or {})):
            delta = added.get(row["id"], 0)
            if delta:
                changes[name] = [row[name] - delta, row[name]]
        writes.append(
            Write(
                action="update",
                entity=ENTITY,
                record_id=row["id"],
                region_code=row["region_code"],
                version=row["version"],
                changes=changes,
                payload=present_allocation(cast(Allocation, SimpleNamespace(**row))),
                audited=False,  # the payments that moved them are
            )
        )
    return writes


# The running sums as the UPDATE left them, patched into the allocation as it was read before
# (confirmations move ``confirmed`` meanwhile without a new version); the rest of it cannot have
# changed unless its version did (an office's edit takes the next version).
_MOVED = (
    "jsonb_build_object('committed', a.committed, 'confirmed', a.confirmed,"
    " 'remaining', a.amount - a.committed)"
)
# The change event's columns as the statement below sends them.
_EVENT_TYPES = {
    "entity": "text",
    "record_id": "text",
    "action": "text",
    "region_code": "text",
    "version": "int",
    "changed_fields": "text[]",
    "client_id": "uuid",
    "payload": "jsonb",
    "previous_region_code": "text",
}


async def charge(
    session: AsyncSession, caller: Caller, before: asyncpg.Record, amount: int
) -> bool:
    """Add ``amount`` to the committed sum of the allocation ``before`` (its row as read
    earlier in the transaction, unlocked) if it fits, and publish the change: one statement,
    so the row's lock, taken here, is held for this round trip and the commit only. False
    when the allocation has no room for it (nothing was changed)."""
    write = Write(
        action="update",
        entity=ENTITY,
        record_id=before["id"],
        region_code=before["region_code"],
        version=before["version"],
        changes={"committed": [before["committed"], before["committed"] + amount]},
        payload=present_allocation(cast(Allocation, SimpleNamespace(**before))).model_dump(
            mode="json"
        ),
        audited=False,  # the payment that moved it is
    )
    event = event_row(caller, write)
    event["payload"] = json.dumps(event["payload"])
    slots = {name: f"${index}::{_EVENT_TYPES[name]}" for index, name in enumerate(event, start=3)}
    slots["payload"] += f" || {_MOVED}"
    connection = await driver_connection(session)
    row = await connection.fetchrow(
        "WITH a AS (UPDATE budget_allocation a SET committed = a.committed + $2"
        " WHERE a.id = $1 AND a.committed + $2 <= a.amount"
        f" RETURNING {RETURNED_COLUMNS}),"
        f" e AS (INSERT INTO change_event ({', '.join(event)})"
        f" SELECT {', '.join(slots.values())} FROM a WHERE a.version = {slots['version']}"
        " RETURNING 1)"
        " SELECT a.*, EXISTS (SELECT FROM e) AS published FROM a",
        before["id"],
        amount,
        *event.values(),
    )
    if row is None:
        return False
    if not row["published"]:
        # Edited since it was read: the event carries the allocation as the UPDATE left it.
        await record_writes(session, caller, sums_changed([row], {row["id"]: amount}))
    return True
