"""Webhook subscriptions: a client's own, managed by that client (scope ``webhooks:manage``).

A subscription shows what the change feed shows its client (the outbox trigger of migration 0010
decides which events it gets, by the feed's rule), so creating one needs ``changes:read`` too.
Another client's subscription is "not found", like a record outside the caller's region.

The signing secret is a Standard Webhooks secret (``whsec_`` + base64 of 32 random bytes),
returned once, when created or rotated. After a rotation the previous secret keeps signing
beside the new one for a grace period, so a receiver can switch without losing messages.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.webhooks import SubscriptionCreate, SubscriptionUpdate
from service.access import Caller
from service.changes.feed import ENTITY_TYPES
from service.changes.feed import SCOPE as FEED_SCOPE
from service.errors import ErrorList, Forbidden, NotFound, ValidationFailed
from service.journal import field_changes, record_write
from service.lists import page_by_last_change
from service.pagination import DEFAULT_LIMIT, Page
from service.records import utcnow
from service.versions import ensure_version
from service.webhooks.tables import WEBHOOK, WebhookDelivery, WebhookSubscription
from service.webhooks.targets import check_target_url
from service.webhooks.wakeups import wake_dispatchers

SCOPE = "webhooks:manage"
ENTITY = "webhook_subscription"
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class WithSecret:
    """A subscription and its new secret, which is shown this once."""

    subscription: WebhookSubscription
    secret: str


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def owned_subscriptions(caller: Caller) -> Select[WebhookSubscription]:
    """The caller's own live subscriptions: the read by id and the list both start here. (The
    DCI channels in the same table are the DCI door's, never shown here.)"""
    return select(WebhookSubscription).where(
        col(WebhookSubscription.client_id) == caller.client_id,
        col(WebhookSubscription.kind) == WEBHOOK,
        col(WebhookSubscription.deleted_at).is_(None),
    )


async def get_subscription(
    session: AsyncSession, caller: Caller, subscription_id: uuid.UUID, *, for_update: bool = False
) -> WebhookSubscription:
    caller.require(SCOPE)
    query = owned_subscriptions(caller).where(col(WebhookSubscription.id) == subscription_id)
    if for_update:
        query = query.with_for_update()
    subscription = (await session.scalars(query)).one_or_none()
    if subscription is None:
        raise NotFound.of("webhook subscription")
    return subscription


async def list_subscriptions(
    session: AsyncSession, caller: Caller, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[WebhookSubscription]:
    caller.require(SCOPE)
    return await page_by_last_change(
        session, WebhookSubscription, owned_subscriptions(caller), limit=limit, cursor=cursor
    )


def _check_url(url: str, errors: ErrorList) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it: a port that is no number raises
    except ValueError:
        errors.add("url", "invalid_url", "Not a URL.")
        return
    if any(c.isspace() or not c.isprintable() for c in url):
        errors.add("url", "invalid_url", "The URL may carry no spaces or control characters.")
        return
    try:
        # Scheme (https unless the operator allows http), host, credentials, literal
        # addresses: the dispatcher's own rules, so the two cannot disagree.
        check_target_url(url)
    except ValidationFailed as refused:
        errors.errors.extend(refused.errors)


def _check_event_types(event_types: list[str], errors: ErrorList) -> list[str]:
    unknown = sorted({name for name in event_types if name not in ENTITY_TYPES})
    if unknown:
        errors.add(
            "event_types",
            "unknown_type",
            f"Unknown types: {', '.join(unknown)}. Known: {', '.join(sorted(ENTITY_TYPES))}.",
        )
    return sorted(set(event_types))


def _snapshot(subscription: WebhookSubscription) -> dict[str, Any]:
    """What the audit trail keeps of a subscription: never its secrets."""
    return {
        "url": subscription.url,
        "event_types": ",".join(subscription.event_types),
        "description": subscription.description,
        "status": subscription.status,
    }


async def journal_subscription(
    session: AsyncSession,
    caller: Caller,
    subscription: WebhookSubscription,
    action: str,
    changes: dict[str, list[Any]] | None,
) -> None:
    # Audited, not published: a subscription is its own client's business, no shared record.
    await record_write(
        session,
        caller,
        action=action,
        entity=ENTITY,
        record_id=subscription.id,
        region_code=None,
        version=subscription.version,
        changes=changes,
        publish=False,
    )


async def create_subscription(
    session: AsyncSession, caller: Caller, data: SubscriptionCreate
) -> WithSecret:
    caller.require(SCOPE)
    caller.require(FEED_SCOPE)
    if caller.client_id is None:
        raise Forbidden("Only an API client can subscribe.", code="client_required")
    errors = ErrorList()
    _check_url(data.url, errors)
    event_types = _check_event_types(data.event_types, errors)
    errors.raise_if_any()
    secret = new_secret()
    subscription = WebhookSubscription(
        client_id=caller.client_id,
        url=data.url,
        event_types=event_types,
        description=data.description,
        secret=secret,
    )
    session.add(subscription)
    await session.flush()
    await journal_subscription(
        session, caller, subscription, "create", field_changes({}, _snapshot(subscription))
    )
    return WithSecret(subscription, secret)


async def update_subscription(
    session: AsyncSession,
    caller: Caller,
    subscription_id: uuid.UUID,
    data: SubscriptionUpdate,
    *,
    if_match: int | None,
) -> WebhookSubscription:
    subscription = await get_subscription(session, caller, subscription_id, for_update=True)
    ensure_version(subscription.version, if_match)
    sent = data.model_dump(mode="json", exclude_unset=True)
    errors = ErrorList()
    for required in ("url", "event_types", "status"):
        if required in sent and sent[required] is None:
            errors.add(required, "required", f"{required} cannot be emptied.")
    if sent.get("url") is not None:
        _check_url(sent["url"], errors)
    if sent.get("event_types") is not None:
        sent["event_types"] = _check_event_types(sent["event_types"], errors)
    errors.raise_if_any()
    if "status" in sent:
        sent["status"] = await _settled_status(session, subscription, sent["status"])
    before = _snapshot(subscription)
    for name, value in sent.items():
        setattr(subscription, name, value)
    changes = field_changes(before, _snapshot(subscription))
    if changes:
        subscription.touch()
        await session.flush()
        await journal_subscription(session, caller, subscription, "update", changes)
    if "status" in changes and subscription.status != "paused":
        await wake_dispatchers(session)  # what queued while paused goes out now
    return subscription


async def _settled_status(
    session: AsyncSession, subscription: WebhookSubscription, wanted: str
) -> str:
    """The status a client's ``active`` or ``paused`` comes to: resuming a subscription whose
    deliveries gave up (parked) resumes it as ``failing``, until they are redelivered."""
    if wanted != "active":
        return wanted
    return "failing" if await has_parked(session, subscription.id) else "active"


async def has_parked(session: AsyncSession, subscription_id: uuid.UUID) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(
                    col(WebhookDelivery.subscription_id) == subscription_id,
                    col(WebhookDelivery.status) == "parked",
                )
            )
        )
    )


async def delete_subscription(
    session: AsyncSession, caller: Caller, subscription_id: uuid.UUID, *, if_match: int | None
) -> None:
    """Soft delete: the trigger queues nothing more for it, and what was still waiting to be
    sent is dropped. Delivered and parked deliveries stay (the log), out of reach with it."""
    subscription = await get_subscription(session, caller, subscription_id, for_update=True)
    if if_match is not None:
        ensure_version(subscription.version, if_match)
    subscription.deleted_at = utcnow()
    subscription.touch()
    await session.flush()
    await session.execute(
        delete(WebhookDelivery).where(
            col(WebhookDelivery.subscription_id) == subscription.id,
            col(WebhookDelivery.status) == "pending",
        )
    )
    await journal_subscription(session, caller, subscription, "delete", None)


async def rotate_secret(
    session: AsyncSession, caller: Caller, subscription_id: uuid.UUID, *, grace: timedelta
) -> WithSecret:
    """A new secret; the one it replaces keeps signing beside it for ``grace``. A secret
    rotated out earlier stops at once (only one previous secret is kept)."""
    subscription = await get_subscription(session, caller, subscription_id, for_update=True)
    secret = new_secret()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = utcnow() + grace
    subscription.secret = secret
    subscription.touch()
    await session.flush()
    await journal_subscription(session, caller, subscription, "rotate_secret", None)
    return WithSecret(subscription, secret)
