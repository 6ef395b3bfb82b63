"""``registry/notify``: the messages of a DCI subscription's channel, built when they are sent."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.settings import Settings
from service.webhooks.messages import Message, prebuilt_message
from service.webhooks.outbox import Pending, Target


async def notifications(
    sessions: async_sessionmaker[AsyncSession],
    target: Target,
    due: Sequence[Pending],
    settings: Settings,
) -> list[Message | None]:
    return [None if d.body is None else prebuilt_message(d.body) for d in due]
