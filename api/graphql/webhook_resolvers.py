"""Resolvers of the webhook fields: parse, call the same service functions as REST, render."""

from __future__ import annotations

import uuid
from datetime import timedelta

import strawberry
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments, sent_fields
from api.graphql.webhook_types import (
    RedeliveredCount,
    Webhook,
    WebhookCreateInput,
    WebhookDelivery,
    WebhookDeliveryDetail,
    WebhookDeliveryPage,
    WebhookPage,
    WebhookUpdateInput,
    WebhookWithSecret,
)
from schemas.filters import ListArguments
from schemas.webhooks import DeliveryStatus, SubscriptionCreate, SubscriptionOut, SubscriptionUpdate
from service.errors import ErrorList
from service.webhooks import deliveries, subscriptions
from service.webhooks.views import present_delivery, present_delivery_detail, present_with_secret

GqlInfo = Info[GraphQLContext, None]

_MAX_DELIVERY_ID = 2**63 - 1


def _delivery_id(value: strawberry.ID) -> int:
    """REST's path parameter: a whole number from 1 to 2**63 - 1; anything else names `id`."""
    text = str(value)
    if text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= _MAX_DELIVERY_ID:
        return int(text)
    errors = ErrorList()
    errors.add("id", "invalid_delivery_id", "A delivery id is a whole number from 1.")
    errors.raise_if_any()
    raise AssertionError("unreachable")


def _delivery_status(value: str | None) -> DeliveryStatus | None:
    if value is None:
        return None
    try:
        return DeliveryStatus(value)
    except ValueError:
        errors = ErrorList()
        errors.add("status", "enum", "One of pending, delivered, parked.")
        errors.raise_if_any()
        raise


async def create_webhook(info: GqlInfo, input: WebhookCreateInput) -> WebhookWithSecret:
    body = SubscriptionCreate.model_validate(vars(input))
    created = await subscriptions.create_subscription(
        info.context.session, info.context.caller, body
    )
    return WebhookWithSecret.from_secret(present_with_secret(created))


async def webhooks(info: GqlInfo, limit: int = 50, cursor: str | None = None) -> WebhookPage:
    check_list_arguments(ListArguments, cursor=cursor)
    page = await subscriptions.list_subscriptions(
        info.context.session, info.context.caller, limit=limit, cursor=cursor
    )
    return WebhookPage(
        items=[Webhook.from_out(SubscriptionOut.model_validate(item)) for item in page.items],
        next_cursor=page.next_cursor,
    )


async def webhook(info: GqlInfo, id: uuid.UUID) -> Webhook:
    found = await subscriptions.get_subscription(info.context.session, info.context.caller, id)
    return Webhook.from_out(SubscriptionOut.model_validate(found))


async def update_webhook(
    info: GqlInfo, id: uuid.UUID, expected_version: int, input: WebhookUpdateInput
) -> Webhook:
    body = SubscriptionUpdate.model_validate(sent_fields(input))
    updated = await subscriptions.update_subscription(
        info.context.session, info.context.caller, id, body, if_match=expected_version
    )
    return Webhook.from_out(SubscriptionOut.model_validate(updated))


async def delete_webhook(
    info: GqlInfo, id: uuid.UUID, expected_version: int | None = None
) -> uuid.UUID:
    await subscriptions.delete_subscription(
        info.context.session, info.context.caller, id, if_match=expected_version
    )
    return id


async def rotate_webhook_secret(info: GqlInfo, id: uuid.UUID) -> WebhookWithSecret:
    grace = timedelta(hours=info.context.settings.webhook_secret_grace_hours)
    rotated = await subscriptions.rotate_secret(
        info.context.session, info.context.caller, id, grace=grace
    )
    return WebhookWithSecret.from_secret(present_with_secret(rotated))


async def webhook_deliveries(
    info: GqlInfo,
    webhook_id: uuid.UUID,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> WebhookDeliveryPage:
    check_list_arguments(ListArguments, cursor=cursor)
    wanted = _delivery_status(status)
    page = await deliveries.list_deliveries(
        info.context.session,
        info.context.caller,
        webhook_id,
        status=wanted.value if wanted else None,
        limit=limit,
        cursor=cursor,
    )
    return WebhookDeliveryPage(
        items=[WebhookDelivery.from_out(present_delivery(item)) for item in page.items],
        next_cursor=page.next_cursor,
    )


async def webhook_delivery(
    info: GqlInfo, webhook_id: uuid.UUID, id: strawberry.ID
) -> WebhookDeliveryDetail:
    logged = await deliveries.get_delivery(
        info.context.session, info.context.caller, webhook_id, _delivery_id(id)
    )
    return WebhookDeliveryDetail.from_detail(present_delivery_detail(logged))


async def redeliver_webhook_delivery(
    info: GqlInfo, webhook_id: uuid.UUID, id: strawberry.ID
) -> WebhookDeliveryDetail:
    logged = await deliveries.redeliver(
        info.context.session, info.context.caller, webhook_id, _delivery_id(id)
    )
    return WebhookDeliveryDetail.from_detail(present_delivery_detail(logged))


async def redeliver_parked_webhook_deliveries(
    info: GqlInfo, webhook_id: uuid.UUID
) -> RedeliveredCount:
    count = await deliveries.redeliver_parked(info.context.session, info.context.caller, webhook_id)
    return RedeliveredCount(redelivered=count)
