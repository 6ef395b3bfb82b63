"""The message a subscription receives for one change: Standard Webhooks' recommended envelope
``{"type", "timestamp", "data"}`` around the change exactly as the feed hands it to the
subscription's client (``SeenChange.out()``: masked for its scopes, a tombstone when the record
left its region)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.access import Caller
from service.changes.presenting import StoredEvent, present_change, unmasked_personal_reads
from service.changes.tables import ChangeEvent


@dataclass(frozen=True)
class Message:
    # The exact text sent and signed.
    body: str
    # (record id, region) of unmasked personal data in it: audited before it is sent.
    personal_reads: list[tuple[str, str | None]]


@dataclass(frozen=True)
class Unsendable:
    """A delivery that must not be sent, for a reason of its own (its request cannot be
    answered, its client may no longer read what it holds): parked with ``reason``, so the
    channel goes on with the next."""

    reason: str


def message_id(delivery_id: int) -> str:
    """``webhook-id``: one per delivery, the same on every retry and redelivery, so a receiver
    can recognise a message it already handled."""
    return f"msg_{delivery_id}"


def prebuilt_message(body: dict[str, Any]) -> Message:
    """A message built when it was queued (a DCI callback): its personal data was audited then,
    by the request that built it."""
    return Message(json.dumps(body, ensure_ascii=False, separators=(",", ":")), [])


def build_message(event: ChangeEvent, reader: Caller) -> Message:
    seen = present_change(StoredEvent.of(event), reader)
    data = seen.out().model_dump(mode="json")
    envelope = {
        "type": f"{event.entity}.{seen.action}",
        # When the change happened, not when this attempt went out (that is the signed
        # ``webhook-timestamp``): the body stays the same on every retry.
        "timestamp": data["occurred_at"],
        "data": data,
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    return Message(body, unmasked_personal_reads([seen], reader))
