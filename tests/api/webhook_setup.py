"""Helpers of the webhook tests: a subscriber client, its subscription, and its deliveries as
the tables hold them."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.changes.tables import ChangeEvent
from service.webhooks.tables import WebhookDelivery
from tests.factories import ClientFactory, IssuedClient

SUBSCRIBER = ["webhooks:manage", "changes:read"]
HOOK_URL = "https://sidesa.example.go.id/hooks/dinsos"


async def subscriber(clients: ClientFactory, region: str | None) -> IssuedClient:
    return await clients(region=region, scopes=SUBSCRIBER)


async def subscribe(http: httpx.AsyncClient, client: IssuedClient, **fields: Any) -> dict[str, Any]:
    """A new subscription of ``client`` (its answer, with the secret)."""
    response = await http.post(
        "/api/v1/webhooks", json={"url": HOOK_URL, **fields}, headers=client.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def queued(session: AsyncSession, subscription_id: str) -> list[tuple[str, str, str, str]]:
    """(record id, entity, action, status) of each delivery of the subscription, in feed order."""
    rows = await session.execute(
        select(
            col(ChangeEvent.record_id),
            col(ChangeEvent.entity),
            col(ChangeEvent.action),
            col(WebhookDelivery.status),
        )
        .join(ChangeEvent, col(ChangeEvent.id) == col(WebhookDelivery.event_id))
        .where(col(WebhookDelivery.subscription_id) == subscription_id)
        .order_by(col(WebhookDelivery.txid), col(WebhookDelivery.event_id))
    )
    return [tuple(row) for row in rows.all()]  # type: ignore[misc]
