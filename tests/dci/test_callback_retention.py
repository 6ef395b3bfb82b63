"""``dinsos prune-changes`` also removes the DCI callbacks settled longer ago than the change
feed's retention: their messages were forgotten at settlement, the rows need not stay forever.
Pending ones and young ones stay."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.dci.deliveries import prune_settled_messages
from tests.factories import ClientFactory


async def test_settled_callbacks_older_than_the_retention_are_pruned(
    session: AsyncSession, clients: ClientFactory
) -> None:
    client = await clients(region="33.26.05", scopes=["kpm:read"])
    channel = (
        await session.execute(
            text(
                "INSERT INTO webhook_subscription (client_id, url, kind, status, event_types)"
                " VALUES (:client, :url, 'dci-callback', 'active', '{}') RETURNING id"
            ),
            {"client": uuid.UUID(client.client_id), "url": f"https://x.example/{uuid.uuid4()}"},
        )
    ).scalar_one()
    rows = {
        "old delivered": ("delivered", None, 40),
        "old parked": ("parked", None, 40),
        "old pending": ("pending", '{"header": {}}', 40),
        "young delivered": ("delivered", None, 2),
    }
    ids = {}
    for name, (status, body, age) in rows.items():
        ids[name] = (
            await session.execute(
                text(
                    "INSERT INTO webhook_delivery (subscription_id, body, txid, status, created_at)"
                    " VALUES (:channel, CAST(:body AS jsonb), 1, :status,"
                    "         now() - make_interval(days => :age)) RETURNING id"
                ),
                {"channel": channel, "body": body, "status": status, "age": age},
            )
        ).scalar_one()

    assert await prune_settled_messages(session, retention_days=30) >= 2

    left = set(
        (
            await session.execute(
                text("SELECT id FROM webhook_delivery WHERE subscription_id = :channel"),
                {"channel": channel},
            )
        ).scalars()
    )
    assert left == {ids["old pending"], ids["young delivered"]}


async def test_callback_channels_do_not_count_as_subscriptions_for_the_outbox_trigger(
    session: AsyncSession,
) -> None:
    # Most writes happen with no subscription: the trigger skips its join then. A DCI callback
    # channel (every async client has one) receives no change events, so it must not count.
    source = await session.scalar(
        text("SELECT prosrc FROM pg_proc WHERE proname = 'queue_webhook_deliveries'")
    )
    assert "WHERE deleted_at IS NULL AND kind <> 'dci-callback') THEN" in " ".join(source.split())
