from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from api.deps import CallerDep, IfMatch, OptionalIfMatch, SessionDep, etag, parse_if_match
from api.problems import problem_responses
from api.rest.params import Cursor, Limit
from schemas.common import Page
from schemas.webhooks import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    RedeliveredCount,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionUpdate,
    SubscriptionWithSecret,
)
from service.webhooks import deliveries, subscriptions
from service.webhooks.views import present_delivery, present_delivery_detail, present_with_secret

router = APIRouter(
    prefix="/api/v1/webhooks", tags=["webhooks"], responses=problem_responses(401, 403, 422)
)

SubscriptionId = Annotated[uuid.UUID, Path(description="The subscription's id.")]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The delivery's id.")]


@router.post(
    "",
    operation_id="createWebhook",
    response_model=SubscriptionWithSecret,
    status_code=status.HTTP_201_CREATED,
)
async def create_webhook(
    session: SessionDep, caller: CallerDep, body: SubscriptionCreate, response: Response
) -> SubscriptionWithSecret:
    """Subscribe an `https://` endpoint to the changes this client may see: the change feed's
    events (of its region, national ones, and records leaving it), each POSTed as it is
    committed, of the `event_types` asked for (all when empty). Needs `webhooks:manage` and
    `changes:read`.

    The answer carries the signing `secret` (`whsec_...`) **this once**: keep it to verify each
    message's signature. `POST /api/v1/webhooks/{id}/rotate-secret` replaces it."""
    created = await subscriptions.create_subscription(session, caller, body)
    response.headers["ETag"] = etag(created.subscription.version)
    response.headers["Location"] = f"/api/v1/webhooks/{created.subscription.id}"
    return present_with_secret(created)


@router.get("", operation_id="listWebhooks", response_model=Page[SubscriptionOut])
async def list_webhooks(
    session: SessionDep, caller: CallerDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[SubscriptionOut]:
    """This client's subscriptions (never another client's), by last change. Needs
    `webhooks:manage`."""
    page = await subscriptions.list_subscriptions(session, caller, limit=limit, cursor=cursor)
    return Page[SubscriptionOut](
        items=[SubscriptionOut.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{subscription_id}",
    operation_id="getWebhook",
    response_model=SubscriptionOut,
    responses=problem_responses(404),
)
async def get_webhook(
    session: SessionDep, caller: CallerDep, subscription_id: SubscriptionId, response: Response
) -> SubscriptionOut:
    """One of this client's subscriptions (another client's is 404). The `ETag` header carries
    its version, for a later `PATCH`."""
    subscription = await subscriptions.get_subscription(session, caller, subscription_id)
    response.headers["ETag"] = etag(subscription.version)
    return SubscriptionOut.model_validate(subscription)


@router.patch(
    "/{subscription_id}",
    operation_id="updateWebhook",
    response_model=SubscriptionOut,
    responses=problem_responses(404, 412, 428),
)
async def update_webhook(
    session: SessionDep,
    caller: CallerDep,
    subscription_id: SubscriptionId,
    body: SubscriptionUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> SubscriptionOut:
    """Change the `url`, `event_types`, `description`, or pause (`status: paused`) and resume
    (`active`) the subscription. A paused subscription keeps queueing changes and sends them,
    in order, once resumed; resuming one with parked deliveries leaves it `failing` until they
    are redelivered. Needs `If-Match` with the `ETag` you read (412 when stale, 428 without)."""
    subscription = await subscriptions.update_subscription(
        session, caller, subscription_id, body, if_match=parse_if_match(if_match)
    )
    response.headers["ETag"] = etag(subscription.version)
    return SubscriptionOut.model_validate(subscription)


@router.delete(
    "/{subscription_id}",
    operation_id="deleteWebhook",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def delete_webhook(
    session: SessionDep,
    caller: CallerDep,
    subscription_id: SubscriptionId,
    if_match: OptionalIfMatch = None,
) -> Response:
    """Unsubscribe: no change is queued for it any more, and the deliveries still waiting are
    dropped. `If-Match` is optional here (412 when stale)."""
    await subscriptions.delete_subscription(
        session, caller, subscription_id, if_match=parse_if_match(if_match)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{subscription_id}/rotate-secret",
    operation_id="rotateWebhookSecret",
    response_model=SubscriptionWithSecret,
    responses=problem_responses(404),
)
async def rotate_webhook_secret(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    subscription_id: SubscriptionId,
    response: Response,
) -> SubscriptionWithSecret:
    """A new signing secret, returned this once. Until `previous_secret_expires_at`
    (`DINSOS_WEBHOOK_SECRET_GRACE_HOURS`, 24 hours by default) each message is signed with both
    the new and the old secret, so your receiver can switch to the new one without losing a
    message; a secret rotated out before that stops at once."""
    grace = timedelta(hours=request.app.state.settings.webhook_secret_grace_hours)
    rotated = await subscriptions.rotate_secret(session, caller, subscription_id, grace=grace)
    response.headers["ETag"] = etag(rotated.subscription.version)
    return present_with_secret(rotated)


@router.get(
    "/{subscription_id}/deliveries",
    operation_id="listWebhookDeliveries",
    response_model=Page[DeliveryOut],
    responses=problem_responses(404),
)
async def list_webhook_deliveries(
    session: SessionDep,
    caller: CallerDep,
    subscription_id: SubscriptionId,
    delivery_status: Annotated[
        DeliveryStatus | None, Query(alias="status", description="Only deliveries in this status.")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    """The delivery log, newest first: each change queued for this subscription, whether it
    was delivered, how many attempts it took, your endpoint's last status code or error, and
    when a pending one is tried next. `status=parked` lists those whose retries gave up."""
    page = await deliveries.list_deliveries(
        session,
        caller,
        subscription_id,
        status=delivery_status.value if delivery_status else None,
        limit=limit,
        cursor=cursor,
    )
    return Page[DeliveryOut](
        items=[present_delivery(item) for item in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/{subscription_id}/deliveries/{delivery_id}",
    operation_id="getWebhookDelivery",
    response_model=DeliveryDetail,
    responses=problem_responses(404),
)
async def get_webhook_delivery(
    session: SessionDep, caller: CallerDep, subscription_id: SubscriptionId, delivery_id: DeliveryId
) -> DeliveryDetail:
    """One delivery with every attempt: when, your endpoint's status code or the error, and
    how long it took."""
    logged = await deliveries.get_delivery(session, caller, subscription_id, delivery_id)
    return present_delivery_detail(logged)


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    operation_id="redeliverWebhookDelivery",
    response_model=DeliveryDetail,
    responses=problem_responses(404),
)
async def redeliver_webhook_delivery(
    session: SessionDep, caller: CallerDep, subscription_id: SubscriptionId, delivery_id: DeliveryId
) -> DeliveryDetail:
    """Send a delivered or parked delivery again: it is pending again, due now, with a fresh
    retry schedule. A pending one is left as it is, so asking twice is the same as once. When
    the last parked delivery is redelivered, a `failing` subscription is `active` again."""
    logged = await deliveries.redeliver(session, caller, subscription_id, delivery_id)
    return present_delivery_detail(logged)


@router.post(
    "/{subscription_id}/redeliver-parked",
    operation_id="redeliverParkedWebhookDeliveries",
    response_model=RedeliveredCount,
    responses=problem_responses(404),
)
async def redeliver_parked_webhook_deliveries(
    session: SessionDep, caller: CallerDep, subscription_id: SubscriptionId
) -> RedeliveredCount:
    """Send every parked delivery again (after your endpoint was down): all are pending again,
    due now, and a `failing` subscription is `active` again."""
    count = await deliveries.redeliver_parked(session, caller, subscription_id)
    return RedeliveredCount(redelivered=count)
