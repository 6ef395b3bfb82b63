"""A change as one reader sees it: the record masked for the reader's scopes exactly as a REST
read masks it, and a record that moved out of the reader's region handed out as having left it
(a tombstone without the record), so a copy of a region never keeps what is no longer in it.

The record travels as JSON text, as the event stores it: a record that needs no masking (the
reader may read personal numbers, or the record type has none) is handed on untouched, never
decoded; only a record the reader must see masked is decoded, masked and encoded again. Each
door decodes the text only if it must (GraphQL, webhooks); the REST feed splices it as is."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from schemas.changes import ChangeOut
from service.access import Caller
from service.changes.tables import ChangeEvent
from service.kpm.views import PII_SCOPE, masked_family

# The action a reader sees when the record moved out of its region.
LEFT = "leave"

# Record types that carry personal numbers, and how a payload of each is masked for a reader
# without ``pii:read``.
_MASKED: dict[str, Callable[[dict[str, Any], Caller], dict[str, Any]]] = {"kpm": masked_family}
PERSONAL_ENTITIES = frozenset(_MASKED)


class StoredEvent(NamedTuple):
    """A change event's columns as the feed reads them, in this order; ``payload`` is the
    stored JSON text. A tuple: a page reads thousands, and a database row's attributes cost
    several times more to read than a tuple's."""

    id: int
    txid: int
    entity: str
    record_id: str
    action: str
    region_code: str | None
    previous_region_code: str | None
    version: int | None
    changed_fields: list[str] | None
    occurred_at: dt.datetime
    payload: str | None

    @staticmethod
    def of(event: ChangeEvent) -> StoredEvent:
        """A ``ChangeEvent`` loaded as an ORM object (webhooks), its payload as JSON text."""
        assert event.id is not None
        assert event.txid is not None
        return StoredEvent(
            event.id,
            event.txid,
            event.entity,
            event.record_id,
            event.action,
            event.region_code,
            event.previous_region_code,
            event.version,
            event.changed_fields,
            event.occurred_at,
            None if event.payload is None else json.dumps(event.payload, ensure_ascii=False),
        )


class SeenChange(NamedTuple):
    # A tuple, not a dataclass: a feed page builds one per event, and a tuple is built in C.
    entity: str
    record_id: str
    action: str
    version: int | None
    changed_fields: list[str] | None
    occurred_at: dt.datetime
    region_code: str | None
    # The record after the change as JSON text, masked for the reader; None for a tombstone
    # (and for an event written before records were carried).
    record_json: str | None

    @property
    def left_region(self) -> bool:
        return self.action == LEFT

    @property
    def record(self) -> dict[str, Any] | None:
        """The record decoded, for the doors that hand it on as a value."""
        if self.record_json is None:
            return None
        record: dict[str, Any] = orjson.loads(self.record_json)
        return record

    def out(self) -> ChangeOut:
        """The change on the wire, one shape for the feed and for webhook messages."""
        return ChangeOut(
            entity=self.entity,
            record_id=self.record_id,
            action=self.action,
            version=self.version,
            changed_fields=self.changed_fields,
            occurred_at=self.occurred_at,
            region_code=self.region_code,
            record=self.record,
        )


def present_change(event: StoredEvent, reader: Caller) -> SeenChange:
    """``event`` as ``reader`` may see it; the reader sees the event (``visible_changes``)."""
    if event.previous_region_code is not None and not reader.can_see(event.region_code):
        # Only the old region is the reader's: it learns that the record left, not where to.
        return SeenChange(
            event.entity,
            event.record_id,
            LEFT,
            event.version,
            None,
            event.occurred_at,
            event.previous_region_code,
            None,
        )
    record = event.payload
    mask = _MASKED.get(event.entity)
    if record is not None and mask is not None and not reader.has(PII_SCOPE):
        record = orjson.dumps(mask(orjson.loads(record), reader)).decode()
    return SeenChange(
        event.entity,
        event.record_id,
        event.action,
        event.version,
        event.changed_fields,
        event.occurred_at,
        event.region_code,
        record,
    )


def unmasked_personal_reads(seen: list[SeenChange], reader: Caller) -> list[tuple[str, str | None]]:
    """(record id, region) of each change whose record hands ``reader`` unmasked personal
    numbers: those reads are audited like any other before the page leaves."""
    if not reader.has(PII_SCOPE):
        return []
    return [
        (change.record_id, change.region_code)
        for change in seen
        if change.record_json is not None and change.entity in PERSONAL_ENTITIES
    ]
