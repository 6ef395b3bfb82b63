"""A subscription's delivery log, and redelivery.

Each row of ``webhook_delivery`` is one change for one subscription, queued by the outbox
trigger in the writer's transaction; the dispatcher sends it and logs each try in
``webhook_attempt``. A client reads its own log here and makes a delivery pending again: one
that was delivered (the receiver lost it) or parked (retries gave up). ``attempts`` counts the
tries since the delivery was last made pending (so a redelivery gets the whole retry schedule
again); the attempt log keeps every try.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import Select, Update, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller
from service.changes.tables import ChangeEvent
from service.errors import FieldError, NotFound, ValidationFailed
from service.journal import field_changes
from service.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
    cursor_part,
    decode_cursor,
    page_from,
)
from service.webhooks.subscriptions import get_subscription, has_parked, journal_subscription
from service.webhooks.tables import (
    DELIVERY_STATUSES,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

# Made pending again by a redelivery.
REDELIVERABLE = ("delivered", "parked")


@dataclass(frozen=True)
class LoggedDelivery:
    """A delivery with the change it carries (and, read by id, its attempts)."""

    delivery: WebhookDelivery
    event_type: str
    record_id: str
    action: str
    attempts: list[WebhookAttempt] = field(default_factory=list)


def _logged(subscription_id: uuid.UUID) -> Select[WebhookDelivery, str, str, str]:
    return (
        select(
            WebhookDelivery,
            col(ChangeEvent.entity),
            col(ChangeEvent.record_id),
            col(ChangeEvent.action),
        )
        .join(ChangeEvent, col(ChangeEvent.id) == col(WebhookDelivery.event_id))
        .where(col(WebhookDelivery.subscription_id) == subscription_id)
    )


async def list_deliveries(
    session: AsyncSession,
    caller: Caller,
    subscription_id: uuid.UUID,
    *,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[LoggedDelivery]:
    """The subscription's deliveries, newest first, ``status`` narrowing them."""
    check_limit(limit)
    subscription = await get_subscription(session, caller, subscription_id)
    query = _logged(subscription.id)
    if status is not None:
        if status not in DELIVERY_STATUSES:
            raise ValidationFailed(
                errors=[
                    FieldError(
                        "status", "unknown_status", f"One of {', '.join(DELIVERY_STATUSES)}."
                    )
                ]
            )
        query = query.where(col(WebhookDelivery.status) == status)
    if cursor is not None:
        (before,) = decode_cursor(cursor, width=1)
        query = query.where(col(WebhookDelivery.id) < cursor_part(before, int))
    rows = (
        await session.execute(query.order_by(col(WebhookDelivery.id).desc()).limit(limit + 1))
    ).all()
    logged = [LoggedDelivery(row[0], row[1], row[2], row[3]) for row in rows]
    return page_from(logged, limit, key=lambda entry: (entry.delivery.id,))


async def get_delivery(
    session: AsyncSession, caller: Caller, subscription_id: uuid.UUID, delivery_id: int
) -> LoggedDelivery:
    """One delivery of the subscription, with every attempt, oldest first."""
    subscription = await get_subscription(session, caller, subscription_id)
    return await _read_delivery(session, subscription, delivery_id)


async def _read_delivery(
    session: AsyncSession, subscription: WebhookSubscription, delivery_id: int
) -> LoggedDelivery:
    row = (
        await session.execute(
            _logged(subscription.id).where(col(WebhookDelivery.id) == delivery_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound.of("webhook delivery")
    attempts = await session.scalars(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id) == delivery_id)
        .order_by(col(WebhookAttempt.id))
    )
    return LoggedDelivery(row[0], row[1], row[2], row[3], list(attempts.all()))


async def redeliver(
    session: AsyncSession, caller: Caller, subscription_id: uuid.UUID, delivery_id: int
) -> LoggedDelivery:
    """Make a delivered or parked delivery pending again, due now. A pending one is left as it
    is (it will be sent anyway), so asking twice does no more than asking once."""
    subscription = await get_subscription(session, caller, subscription_id, for_update=True)
    await session.execute(
        _made_pending().where(
            col(WebhookDelivery.subscription_id) == subscription.id,
            col(WebhookDelivery.id) == delivery_id,
        )
    )
    logged = await _read_delivery(session, subscription, delivery_id)
    await _settle_failing(session, caller, subscription)
    return logged


async def redeliver_parked(
    session: AsyncSession, caller: Caller, subscription_id: uuid.UUID
) -> int:
    """Make every parked delivery of the subscription pending again, due now; how many."""
    subscription = await get_subscription(session, caller, subscription_id, for_update=True)
    result = await session.execute(
        _made_pending()
        .where(
            col(WebhookDelivery.subscription_id) == subscription.id,
            col(WebhookDelivery.status) == "parked",
        )
        .returning(col(WebhookDelivery.id))
    )
    count = len(result.all())
    await _settle_failing(session, caller, subscription)
    return count


def _made_pending() -> Update:
    return (
        update(WebhookDelivery)
        .where(col(WebhookDelivery.status).in_(REDELIVERABLE))
        .values(
            status="pending",
            next_attempt_at=func.now(),
            attempts=0,
            delivered_at=None,
        )
        .execution_options(synchronize_session=False)
    )


async def _settle_failing(
    session: AsyncSession, caller: Caller, subscription: WebhookSubscription
) -> None:
    """A subscription is ``failing`` while it has parked deliveries: once none is left, it is
    ``active`` again. (The subscription row is locked, so the dispatcher parking another
    delivery meanwhile waits, and sets ``failing`` again after.)"""
    if subscription.failing_since is None and subscription.status != "failing":
        return
    if await has_parked(session, subscription.id):
        return
    before = {"status": subscription.status}
    if subscription.status == "failing":
        subscription.status = "active"
    subscription.failing_since = None
    subscription.touch()
    await session.flush()
    await journal_subscription(
        session,
        caller,
        subscription,
        "update",
        field_changes(before, {"status": subscription.status}) or None,
    )
