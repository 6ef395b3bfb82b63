"""``registry/subscribe`` and ``registry/unsubscribe``: a client's DCI subscriptions to the
changes of the families of its region that match a filter.

A subscription stores the subscriber (its client, the ``sender_id`` its messages carry, the
``transaction_id`` and ``reference_id`` of the request), the filter (``filter_type``
``expression``, ``predicate`` or ``idtype-value``: the search's query language, restricted to
family attributes), the event type, the record type, and where to notify (the request's
``header.sender_uri``, checked as a callback address is). Its code (``SubscriptionInfo.code``)
is its id. Each subscription has a channel of its own in the outbox (``dci-notify``), which the
outbox trigger fills with the family change events its client may see (the change feed's
region rule); ``service.dci.notify`` turns them into ``registry/notify`` messages when they are
sent. Unsubscribing closes the channel: what was still waiting is dropped, nothing more is
queued.

Event types (``reg_event_type``): ``REGISTER`` (a family registered, and any later update of
it, re-sent whole: the spec has no event type for an update) and ``NewHouseHoldMember`` (a
member added to a family); the spdci prefixed forms (``spdci:common:RegistryEventType:...``)
are accepted too. Record types (``notify_record_type``): ``Group`` (the family) or ``Member``
(the members concerned). ``frequency`` is not honoured: notifications go out as the changes
happen.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller
from service.dci import reasons
from service.dci.envelopes import VERSION, RequestEnvelope, parse_timestamp, timestamp
from service.dci.notify import check_filter
from service.dci.reasons import DciRejection
from service.dci.subscription_tables import SUBSCRIBED, UNSUBSCRIBED, DciSubscription
from service.journal import field_changes, record_write
from service.records import utcnow
from service.webhooks.tables import DCI_NOTIFY, WebhookDelivery, WebhookSubscription

SCOPES = ("kpm:read", "changes:read")
ENTITY = "dci_subscription"

REGISTER = "REGISTER"
NEW_MEMBER = "NewHouseHoldMember"
EVENT_TYPES = (REGISTER, NEW_MEMBER)
EVENT_TYPE_PREFIX = "spdci:common:RegistryEventType:"
RECORD_TYPES = ("Group", "Member")
FILTER_TYPES = ("expression", "predicate", "idtype-value")

# SubscribeStatusReasonCode / UnSubscribeStatusReasonCode.
NOTIFY_TYPES_INVALID = "rjct.notify_types.invalid"
NOTIFY_DETAILS_INVALID = "rjct.notify_details.invalid"
SUBSCRIPTION_CODE_INVALID = "rjct.subscription_code.invalid"
ALREADY_UNSUBSCRIBED = "rjct.event.already_unsubscribed"


def require_scopes(caller: Caller) -> None:
    missing = [scope for scope in SCOPES if not caller.has(scope)]
    if missing:
        raise DciRejection(
            reasons.REQUEST_FORBIDDEN, f"Subscribing needs the scopes {', '.join(SCOPES)}."
        )


def event_type(value: Any) -> str | None:
    """The event type named, without the spdci prefix; None when it is not one of ours."""
    if not isinstance(value, str):
        return None
    name = value.removeprefix(EVENT_TYPE_PREFIX)
    return name if name in EVENT_TYPES else None


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _reference(item: Mapping[str, Any]) -> str:
    value = item.get("reference_id")
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise _Refused(reasons.REFERENCE_ID_INVALID, "reference_id must be a text.")
    text = str(value)
    if len(text) > 99:
        raise _Refused(reasons.REFERENCE_ID_INVALID, "reference_id has at most 99 characters.")
    return text


def _criteria(item: Mapping[str, Any]) -> dict[str, Any]:
    """The checked subscribe_criteria of one request."""
    if parse_timestamp(item.get("timestamp")) is None:
        raise _Refused(reasons.TIMESTAMP_INVALID, "timestamp must be an RFC 3339 date-time.")
    criteria = item.get("subscribe_criteria")
    if not isinstance(criteria, Mapping):
        raise _Refused(NOTIFY_DETAILS_INVALID, "subscribe_criteria must be an object.")
    kind = event_type(criteria.get("reg_event_type"))
    if kind is None:
        raise _Refused(NOTIFY_TYPES_INVALID, f"reg_event_type is one of {', '.join(EVENT_TYPES)}.")
    record_type = criteria.get("notify_record_type")
    if record_type not in RECORD_TYPES:
        raise _Refused(
            NOTIFY_TYPES_INVALID, f"notify_record_type is one of {', '.join(RECORD_TYPES)}."
        )
    filter_type = criteria.get("filter_type", "expression")
    if filter_type not in FILTER_TYPES:
        raise _Refused(NOTIFY_DETAILS_INVALID, f"filter_type is one of {', '.join(FILTER_TYPES)}.")
    reg_type = criteria.get("reg_type")
    if reg_type is not None and (not isinstance(reg_type, str) or len(reg_type) > 99):
        raise _Refused(NOTIFY_DETAILS_INVALID, "reg_type must be a text.")
    try:
        check_filter(filter_type, criteria.get("filter"))
    except DciRejection as refused:
        raise _Refused(NOTIFY_DETAILS_INVALID, refused.message) from None
    return {
        "reg_type": reg_type,
        "reg_event_type": kind,
        "notify_record_type": record_type,
        "filter_type": filter_type,
        "filter": criteria.get("filter"),
    }


def subscription_info(subscription: DciSubscription) -> dict[str, Any]:
    """The spec's ``SubscriptionInfo`` of a subscription."""
    info: dict[str, Any] = {
        "version": VERSION,
        "code": str(subscription.id),
        "status": subscription.status,
        "timestamp": timestamp(subscription.updated_at),
        "reg_event_type": subscription.reg_event_type,
        "filter_type": subscription.filter_type,
        "filter": subscription.filter,
        "notify_record_type": subscription.notify_record_type,
    }
    if subscription.reg_type is not None:
        info["reg_type"] = subscription.reg_type
    return info


async def subscribe(
    session: AsyncSession,
    caller: Caller,
    envelope: RequestEnvelope,
    *,
    notify_uri: str,
    correlation_id: str,
    limit: int,
) -> tuple[dict[str, Any], int, int]:
    """Each ``subscribe_request`` item made a subscription (``succ``, with its
    ``SubscriptionInfo``) or refused with its reason code (``rjct``): the ``SubscribeResponse``
    message, and (total_count, completed_count) for the header. A client holds at most
    ``limit`` live subscriptions (each is a channel the dispatcher serves): one more is refused
    with ``rjct.notify_details.invalid``, the spec having no code of its own for it."""
    require_scopes(caller)
    assert caller.client_id is not None
    # One subscriber's requests at a time, so two at once cannot both take the last place.
    await session.execute(
        text("SELECT 1 FROM api_client WHERE id = :id FOR UPDATE"), {"id": caller.client_id}
    )
    live = int(
        await session.scalar(
            select(func.count())
            .select_from(DciSubscription)
            .where(
                col(DciSubscription.client_id) == caller.client_id,
                col(DciSubscription.status) == SUBSCRIBED,
            )
        )
        or 0
    )
    message = envelope.message
    items = message.get("subscribe_request")
    if not isinstance(items, list) or not items:
        raise DciRejection(
            reasons.TOTAL_COUNT_INVALID, "message.subscribe_request must list the requests."
        )
    answers: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        answer: dict[str, Any] = {"timestamp": timestamp(), "status": "rjct"}
        try:
            if not isinstance(item, Mapping):
                raise _Refused(reasons.REFERENCE_ID_INVALID, "Each request is an object.")
            reference = _reference(item)
            answer["reference_id"] = reference
            if reference in seen:
                raise _Refused(reasons.REFERENCE_ID_DUPLICATE, "reference_id is used twice.")
            seen.add(reference)
            criteria = _criteria(item)
            if live >= limit:
                raise _Refused(
                    NOTIFY_DETAILS_INVALID,
                    f"A client holds at most {limit} live subscriptions: unsubscribe some first.",
                )
        except _Refused as refused:
            answer.setdefault("reference_id", "")
            answer["status_reason_code"] = refused.code
            answer["status_reason_message"] = refused.message
            answers.append(answer)
            continue
        subscription = await _create(
            session, caller, envelope, reference, criteria, notify_uri=notify_uri
        )
        live += 1
        answer["status"] = "succ"
        answer["subscriptions"] = [subscription_info(subscription)]
        answers.append(answer)
    response = {
        "transaction_id": str(message.get("transaction_id", ""))[:99],
        "correlation_id": correlation_id,
        "subscribe_response": answers,
    }
    return response, len(items), len(answers)


async def _create(
    session: AsyncSession,
    caller: Caller,
    envelope: RequestEnvelope,
    reference: str,
    criteria: dict[str, Any],
    *,
    notify_uri: str,
) -> DciSubscription:
    assert caller.client_id is not None
    channel = WebhookSubscription(
        client_id=caller.client_id,
        url=notify_uri,
        kind=DCI_NOTIFY,
        event_types=["kpm"],
        description="DCI subscription",
    )
    session.add(channel)
    await session.flush()
    subscription = DciSubscription(
        client_id=caller.client_id,
        channel_id=channel.id,
        sender_id=envelope.sender_id,
        transaction_id=str(envelope.message.get("transaction_id", ""))[:99],
        reference_id=reference,
        notify_uri=notify_uri,
        **criteria,
    )
    session.add(subscription)
    await session.flush()
    await _journal(session, caller, subscription, "create", _snapshot(subscription), {})
    return subscription


def _snapshot(subscription: DciSubscription) -> dict[str, Any]:
    return {
        "status": subscription.status,
        "reg_event_type": subscription.reg_event_type,
        "notify_record_type": subscription.notify_record_type,
        "notify_uri": subscription.notify_uri,
    }


async def _journal(
    session: AsyncSession,
    caller: Caller,
    subscription: DciSubscription,
    action: str,
    after: dict[str, Any],
    before: dict[str, Any],
) -> None:
    # Audited, not published: a subscription is its own client's business.
    await record_write(
        session,
        caller,
        action=action,
        entity=ENTITY,
        record_id=subscription.id,
        region_code=None,
        version=subscription.version,
        changes=field_changes(before, after) or None,
        publish=False,
    )


def _code(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def unsubscribe(
    session: AsyncSession, caller: Caller, envelope: RequestEnvelope, *, correlation_id: str
) -> dict[str, Any]:
    """The ``UnSubscribeResponse`` message: each of the caller's own subscriptions named is
    unsubscribed (its channel closed, what still waited dropped) and listed with its status.
    A code that is none of the caller's live or ended subscriptions makes the answer ``rjct``
    ``rjct.subscription_code.invalid`` (the others are unsubscribed all the same); codes that
    were all unsubscribed before make it ``rjct.event.already_unsubscribed``."""
    require_scopes(caller)
    message = envelope.message
    codes = message.get("subscription_codes")
    response: dict[str, Any] = {
        "transaction_id": str(message.get("transaction_id", ""))[:99],
        "correlation_id": correlation_id,
        "timestamp": timestamp(),
    }
    if (
        not isinstance(codes, list)
        or not codes
        or not all(isinstance(code, str) for code in codes)
        or len(codes) > 100
    ):
        response["status"] = "rjct"
        response["status_reason_code"] = SUBSCRIPTION_CODE_INVALID
        response["status_reason_message"] = "subscription_codes lists 1 to 100 codes."
        return response
    ids = {code: _code(code) for code in codes}
    found = {
        subscription.id: subscription
        for subscription in await session.scalars(
            select(DciSubscription)
            .where(
                col(DciSubscription.client_id) == caller.client_id,
                col(DciSubscription.id).in_([i for i in ids.values() if i is not None]),
            )
            .with_for_update()
        )
    }
    statuses, unknown, ended_now = [], [], 0
    for code, subscription_id in ids.items():
        subscription = found.get(subscription_id) if subscription_id is not None else None
        if subscription is None:
            unknown.append(code)
            continue
        if subscription.status == SUBSCRIBED:
            await _end(session, caller, subscription)
            ended_now += 1
        statuses.append({"code": code, "status": UNSUBSCRIBED})
    response["status"] = "succ"
    if unknown:
        response["status"] = "rjct"
        response["status_reason_code"] = SUBSCRIPTION_CODE_INVALID
        response["status_reason_message"] = f"{len(unknown)} code(s) name no subscription of yours."
    elif ended_now == 0:
        response["status"] = "rjct"
        response["status_reason_code"] = ALREADY_UNSUBSCRIBED
        response["status_reason_message"] = "Every subscription named was unsubscribed before."
    if statuses:
        response["subscription_status"] = statuses
    return response


async def _end(session: AsyncSession, caller: Caller, subscription: DciSubscription) -> None:
    before = _snapshot(subscription)
    now = utcnow()
    subscription.status = UNSUBSCRIBED
    subscription.unsubscribed_at = now
    subscription.touch()
    await session.execute(
        update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription.channel_id)
        .values(deleted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(WebhookDelivery).where(
            col(WebhookDelivery.subscription_id) == subscription.channel_id,
            col(WebhookDelivery.status) == "pending",
        )
    )
    await session.flush()
    await _journal(session, caller, subscription, "update", _snapshot(subscription), before)
