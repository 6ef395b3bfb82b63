"""GraphQL types of webhook subscriptions and their delivery log, built from the same wire shapes
as REST (``schemas.webhooks``, via ``service.webhooks.views``). The signing secret is a field of
``WebhookWithSecret`` only, the answer of createWebhook and rotateWebhookSecret, as on REST."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry

from schemas.webhooks import (
    EVENT_TYPES_DESCRIPTION,
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    SubscriptionOut,
    SubscriptionWithSecret,
)

DELIVERY_ID = (
    "The delivery's id (a 64-bit number, as text); its messages carry `webhook-id: msg_<id>`."
)


@strawberry.type(description="A subscription of this client to the change feed, by webhook.")
class Webhook:
    id: uuid.UUID
    url: str
    event_types: list[str] = strawberry.field(description=EVENT_TYPES_DESCRIPTION)
    description: str | None
    status: str = strawberry.field(description="active, failing or paused.")
    failing_since: dt.datetime | None
    previous_secret_expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @staticmethod
    def fields_of(out: SubscriptionOut) -> dict[str, object]:
        return {
            "id": out.id,
            "url": out.url,
            "event_types": out.event_types,
            "description": out.description,
            "status": out.status.value,
            "failing_since": out.failing_since,
            "previous_secret_expires_at": out.previous_secret_expires_at,
            "created_at": out.created_at,
            "updated_at": out.updated_at,
            "version": out.version,
        }

    @staticmethod
    def from_out(out: SubscriptionOut) -> Webhook:
        return Webhook(**Webhook.fields_of(out))  # type: ignore[arg-type]


@strawberry.type(
    description="A subscription with its signing secret (`whsec_...`), shown only in this "
    "answer: keep it to verify each message's `webhook-signature`."
)
class WebhookWithSecret(Webhook):
    secret: str

    @staticmethod
    def from_secret(out: SubscriptionWithSecret) -> WebhookWithSecret:
        return WebhookWithSecret(**Webhook.fields_of(out), secret=out.secret)  # type: ignore[arg-type]


@strawberry.type
class WebhookPage:
    items: list[Webhook]
    next_cursor: str | None


@strawberry.type(description="One attempt to deliver: when, your status code or the error.")
class WebhookAttempt:
    attempted_at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @staticmethod
    def from_out(out: AttemptOut) -> WebhookAttempt:
        return WebhookAttempt(
            attempted_at=out.attempted_at,
            status_code=out.status_code,
            error=out.error,
            duration_ms=out.duration_ms,
        )


@strawberry.type(description="A change queued for a subscription, and how its delivery went.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description=DELIVERY_ID)
    event_id: strawberry.ID = strawberry.field(description="The change event's id, as text.")
    event_type: str
    record_id: str
    action: str
    status: str = strawberry.field(description="pending, delivered or parked.")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime

    @staticmethod
    def fields_of(out: DeliveryOut) -> dict[str, object]:
        return {
            "id": strawberry.ID(str(out.id)),
            "event_id": strawberry.ID(str(out.event_id)),
            "event_type": out.event_type,
            "record_id": out.record_id,
            "action": out.action,
            "status": out.status.value,
            "attempts": out.attempts,
            "last_status_code": out.last_status_code,
            "last_error": out.last_error,
            "next_attempt_at": out.next_attempt_at,
            "delivered_at": out.delivered_at,
            "created_at": out.created_at,
        }

    @staticmethod
    def from_out(out: DeliveryOut) -> WebhookDelivery:
        return WebhookDelivery(**WebhookDelivery.fields_of(out))  # type: ignore[arg-type]


@strawberry.type(description="A delivery with every attempt, oldest first.")
class WebhookDeliveryDetail(WebhookDelivery):
    attempt_log: list[WebhookAttempt]

    @staticmethod
    def from_detail(out: DeliveryDetail) -> WebhookDeliveryDetail:
        return WebhookDeliveryDetail(
            **WebhookDelivery.fields_of(out),  # type: ignore[arg-type]
            attempt_log=[WebhookAttempt.from_out(item) for item in out.attempt_log],
        )


@strawberry.type
class WebhookDeliveryPage:
    items: list[WebhookDelivery]
    next_cursor: str | None


@strawberry.type
class RedeliveredCount:
    redelivered: int = strawberry.field(description="How many parked deliveries are pending again.")


@strawberry.input
class WebhookCreateInput:
    url: str = strawberry.field(description="Where the changes are POSTed: an `https://` address.")
    event_types: list[str] = strawberry.field(
        default_factory=list, description=EVENT_TYPES_DESCRIPTION
    )
    description: str | None = None


@strawberry.input(description="Only the fields sent are changed; `status` is active or paused.")
class WebhookUpdateInput:
    url: str | None = strawberry.UNSET
    event_types: list[str] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
