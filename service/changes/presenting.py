"""A change as one reader sees it: the record masked for the reader's scopes exactly as a REST
read masks it, and a record that moved out of the reader's region handed out as having left it
(a tombstone without the record), so a copy of a region never keeps what is no longer in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.changes import ChangeOut
from service.access import Caller
from service.changes.tables import ChangeEvent
from service.kpm.views import masked_family

# The action a reader sees when the record moved out of its region.
LEFT = "leave"

# Record types that carry personal numbers, and how a payload of each is masked for a reader
# without ``pii:read``.
_MASKED: dict[str, Callable[[dict[str, Any], Caller], dict[str, Any]]] = {"kpm": masked_family}
PERSONAL_ENTITIES = frozenset(_MASKED)


@dataclass(frozen=True)
class SeenChange:
    event: ChangeEvent
    action: str
    region_code: str | None
    changed_fields: list[str] | None
    # The record after the change, masked for the reader; None for a tombstone (and for an
    # event written before records were carried).
    record: dict[str, Any] | None

    @property
    def left_region(self) -> bool:
        return self.action == LEFT

    def out(self) -> ChangeOut:
        """The change on the wire, one shape for the feed and for webhook messages."""
        return ChangeOut(
            entity=self.event.entity,
            record_id=self.event.record_id,
            action=self.action,
            version=self.event.version,
            changed_fields=self.changed_fields,
            occurred_at=self.event.occurred_at,
            region_code=self.region_code,
            record=self.record,
        )


def present_change(event: ChangeEvent, reader: Caller) -> SeenChange:
    """``event`` as ``reader`` may see it; the reader sees the event (``visible_changes``)."""
    if event.previous_region_code is not None and not reader.can_see(event.region_code):
        # Only the old region is the reader's: it learns that the record left, not where to.
        return SeenChange(event, LEFT, event.previous_region_code, None, None)
    record = event.payload
    mask = _MASKED.get(event.entity)
    if record is not None and mask is not None:
        record = mask(record, reader)
    return SeenChange(event, event.action, event.region_code, event.changed_fields, record)


def unmasked_personal_reads(seen: list[SeenChange], reader: Caller) -> list[tuple[str, str | None]]:
    """(record id, region) of each change whose record hands ``reader`` unmasked personal
    numbers: those reads are audited like any other before the page leaves."""
    if not reader.has("pii:read"):
        return []
    return [
        (change.event.record_id, change.region_code)
        for change in seen
        if change.record is not None and change.event.entity in PERSONAL_ENTITIES
    ]
