"""``registry/notify``: the messages of a DCI subscription's channel, built when they are sent.

The outbox trigger queues, on the channel of each subscription, the family (``kpm``) change
events its client may see (the change feed's region rule). When the dispatcher sends them, each
becomes a ``NotifyEventRequest`` or is skipped:

- what happened: a ``REGISTER`` subscription is told of a family created and of every later
  update of it (member changes included), re-sent whole as ``REGISTER`` with the family as it
  is now (the spec has no update event type; the header's ``meta.change`` says ``update`` and
  ``meta.changed_fields`` which fields changed); a ``NewHouseHoldMember`` subscription is told
  of the updates that added members to a family (members in the event that were not in the
  family's previous event). An archived family, one that left the client's region, or one that
  does not match the filter (evaluated on the family as it is when the message is built,
  through the search's conditions and the region rule) is skipped: nothing is sent.
- what is sent: the family as the search shows it (``Group``), or for ``Member`` subscriptions
  the members concerned (the new ones, or all of them for ``REGISTER``), masked unless the
  client has ``pii:read`` (whose unmasked reads are audited before the message leaves).

The header's ``message_id`` is derived from the delivery, so a retry carries the same one; its
``meta.subscription_code`` names the subscription; the message carries the subscription's
``transaction_id`` and its request's ``reference_id``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, select, tuple_
from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import visitors
from sqlmodel import col

from service.changes.tables import ChangeEvent
from service.dci import reasons
from service.dci.envelopes import callback_header, timestamp
from service.dci.reasons import DciRejection
from service.dci.search import GROUP, MEMBER, REG_TYPE, find_groups, find_members, translate
from service.dci.subscription_tables import SUBSCRIBED, DciSubscription
from service.kpm.tables import Family, Member
from service.kpm.views import PII_SCOPE
from service.settings import Settings
from service.webhooks.messages import Message, Unsendable, prebuilt_message
from service.webhooks.outbox import Pending, Target

REGISTER = "REGISTER"
NEW_MEMBER = "NewHouseHoldMember"
# Stable message ids: one per delivery, the same on every retry.
_MESSAGE_IDS = uuid.UUID("6c1d3f8e-6f57-4d1b-9a51-3d0f4c2b7a10")


def check_filter(filter_type: str, value: Any) -> ColumnElement[bool]:
    """The SQL condition of a subscription's filter (the search's query language, on families);
    ``rjct.search_criteria.invalid`` when it is not one, or names a member's attribute."""
    _, where = translate({"query_type": filter_type, "query": value, "response_entity": GROUP})
    member_table = Member.__table__  # type: ignore[attr-defined]
    for element in visitors.iterate(where):
        table = getattr(element, "table", None)
        if isinstance(table, Table) and table is member_table:
            raise DciRejection(
                reasons.SEARCH_CRITERIA_INVALID,
                "A subscription's filter names family attributes only (village_code, region, "
                "desil, verification_status, program, no_kk, created_at, updated_at).",
            )
    return where


def message_id_of(delivery_id: int) -> str:
    return str(uuid.uuid5(_MESSAGE_IDS, str(delivery_id)))


async def _added_members(session: AsyncSession, event: ChangeEvent) -> list[str]:
    """Members in ``event``'s family that were not in its previous event."""
    now = {str(member["id"]) for member in (event.payload or {}).get("members", [])}
    before = await session.scalar(
        select(col(ChangeEvent.payload))
        .where(
            col(ChangeEvent.entity) == event.entity,
            col(ChangeEvent.record_id) == event.record_id,
            tuple_(col(ChangeEvent.txid), col(ChangeEvent.id)) < tuple_(event.txid, event.id),
        )
        .order_by(col(ChangeEvent.txid).desc(), col(ChangeEvent.id).desc())
        .limit(1)
    )
    if before is None:
        return []
    earlier = {str(member["id"]) for member in before.get("members", [])}
    return sorted(now - earlier)


async def _happened(
    session: AsyncSession, event: ChangeEvent, wanted: str
) -> tuple[str, list[str]] | None:
    """(event type, members added) of a change for a subscription to ``wanted`` events; None
    when it is not notified to it."""
    if event.action not in ("create", "update"):
        return None
    if wanted == REGISTER:
        return REGISTER, []
    if event.action == "update" and "members" in (event.changed_fields or []):
        added = await _added_members(session, event)
        if added:
            return NEW_MEMBER, added
    return None


async def notifications(
    sessions: async_sessionmaker[AsyncSession],
    target: Target,
    due: Sequence[Pending],
    settings: Settings,
) -> list[Message | Unsendable | None]:
    """The message of each delivery of a ``dci-notify`` channel; None: not sent. A filter that
    cannot be evaluated (one stored before the rules that refuse it at subscribe time, or a
    value the database refuses) parks the changes it was to filter, with the reason, rather
    than stopping the channel."""
    try:
        return await _notifications(sessions, target, due, settings)
    except (DciRejection, DataError) as error:
        reason = (
            error.message
            if isinstance(error, DciRejection)
            else "the database refused the subscription's filter"
        )
        unsendable = Unsendable(f"the subscription's filter cannot be evaluated: {reason}")
        return [
            prebuilt_message(delivery.body) if delivery.body is not None else unsendable
            for delivery in due
        ]


async def _notifications(
    sessions: async_sessionmaker[AsyncSession],
    target: Target,
    due: Sequence[Pending],
    settings: Settings,
) -> list[Message | Unsendable | None]:
    messages: list[Message | Unsendable | None] = [None] * len(due)
    async with sessions() as session, session.begin():
        subscription = await session.scalar(
            select(DciSubscription).where(col(DciSubscription.channel_id) == target.id)
        )
        if subscription is None or subscription.status != SUBSCRIBED:
            return messages
        where = check_filter(subscription.filter_type, subscription.filter)
        happened: dict[int, tuple[str, list[str]]] = {}
        for position, delivery in enumerate(due):
            if delivery.body is not None:
                messages[position] = prebuilt_message(delivery.body)
                continue
            if delivery.event is None:
                continue
            what = await _happened(session, delivery.event, subscription.reg_event_type)
            if what is not None:
                happened[position] = what
        family_ids = sorted({uuid.UUID(_event(due[p]).record_id) for p in happened})
        if not family_ids:
            return messages
        reader = target.reader
        matching = and_(where, col(Family.id).in_(family_ids))
        records: dict[str, list[dict[str, Any]]] = {}
        if subscription.notify_record_type == MEMBER:
            found = await find_members(
                session, reader, matching, [col(Member.id)], size=10_000, number=1
            )
            for record in found.records:
                records.setdefault(str(record.get("group_id")), []).append(record)
        else:
            found = await find_groups(
                session, reader, matching, [col(Family.id)], size=len(family_ids), number=1
            )
            for record in found.records:
                records[str(record["@id"]).rsplit("/", 1)[-1]] = [record]
        regions = {str(family_id): region for family_id, region in found.read}
    for position, (kind, added) in happened.items():
        delivery = due[position]
        event = _event(delivery)
        found_records = records.get(event.record_id)
        if not found_records:
            continue  # archived, out of the region, or outside the filter now
        if subscription.notify_record_type == MEMBER and kind == NEW_MEMBER:
            found_records = [r for r in found_records if _member_id(r) in added]
            if not found_records:
                continue
        body = _notify_body(subscription, delivery, event, kind, found_records, settings)
        reads = [(event.record_id, regions.get(event.record_id))] if reader.has(PII_SCOPE) else []
        messages[position] = Message(
            json.dumps(body, ensure_ascii=False, separators=(",", ":")), reads
        )
    return messages


def _event(delivery: Pending) -> ChangeEvent:
    assert delivery.event is not None
    return delivery.event


def _member_id(record: Mapping[str, Any]) -> str:
    return str(record.get("@id", "")).rsplit("/", 1)[-1]


def _notify_body(
    subscription: DciSubscription,
    delivery: Pending,
    event: ChangeEvent,
    kind: str,
    found: list[dict[str, Any]],
    settings: Settings,
) -> dict[str, Any]:
    header = callback_header(
        {"sender_id": subscription.sender_id},
        action="notify",
        status="succ",
        registry_id=settings.dci_registry_id,
        total_count=len(found),
        completed_count=len(found),
    )
    header["message_id"] = message_id_of(delivery.id)
    header["meta"] = {
        "subscription_code": str(subscription.id),
        "change": event.action,
        "changed_fields": list(event.changed_fields or []),
    }
    message = {
        "transaction_id": subscription.transaction_id,
        "notify_event": [
            {
                "reference_id": subscription.reference_id,
                "timestamp": timestamp(event.occurred_at),
                "data": {
                    "version": "1.0.0",
                    "reg_type": subscription.reg_type or REG_TYPE,
                    "reg_event_type": kind,
                    "reg_record_type": subscription.notify_record_type,
                    "reg_records": record,
                },
            }
            for record in found
        ],
    }
    return {"header": header, "message": message}
