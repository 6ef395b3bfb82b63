"""Waking the dispatchers when deliveries become pending without a change event: a redelivery,
a resumed subscription. Apart from ``dispatcher.py`` so that the subscription API can send it
without loading the HTTP client."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

DELIVERY_CHANNEL = "webhook_delivery"


async def wake_dispatchers(session: AsyncSession) -> None:
    """Tell every dispatcher, at commit, that deliveries became pending again."""
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": DELIVERY_CHANNEL})
