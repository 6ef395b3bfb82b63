"""How subscriptions and their delivery log leave the service: one presenter for REST and
GraphQL, so both show the secret only where it was just made, and a retry time only while a
delivery is pending."""

from __future__ import annotations

from schemas.webhooks import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    SubscriptionOut,
    SubscriptionWithSecret,
)
from service.webhooks.deliveries import LoggedDelivery
from service.webhooks.subscriptions import WithSecret


def present_with_secret(created: WithSecret) -> SubscriptionWithSecret:
    return SubscriptionWithSecret.model_validate(
        {
            **SubscriptionOut.model_validate(created.subscription).model_dump(),
            "secret": created.secret,
        }
    )


def present_delivery(logged: LoggedDelivery) -> DeliveryOut:
    delivery = logged.delivery
    assert delivery.id is not None
    return DeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=logged.event_type,
        record_id=logged.record_id,
        action=logged.action,
        status=DeliveryStatus(delivery.status),
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
    )


def present_delivery_detail(logged: LoggedDelivery) -> DeliveryDetail:
    return DeliveryDetail(
        **present_delivery(logged).model_dump(),
        attempt_log=[AttemptOut.model_validate(attempt) for attempt in logged.attempts],
    )
