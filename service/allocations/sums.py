"""The change events of an allocation's running sums. Payments move ``committed`` and
``confirmed`` without the office touching the allocation (its version stays, so an office's
If-Match is not disturbed by payments); the change feed still carries each such change, with
the allocation as it stands after it, so a copy of the budget stays current."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

import asyncpg

from service.allocations.tables import Allocation
from service.allocations.views import present_allocation
from service.journal import Write

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
