"""The outbox's fan-out sees exactly what the change feed shows each client.

The trigger on ``change_event`` states the region rule in SQL (``change_visible_in_region``,
migration 0010); the feed states it in ``visible_changes``. Here both answer the same region
matrix, for events written by a single INSERT and by the bulk COPY path alike."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from service.access import Caller
from service.auth.clients import create_client, operator
from service.auth.tables import ApiClient
from service.changes.feed import visible_changes
from service.changes.tables import ChangeEvent
from service.database import create_session_factory
from service.journal import Write, record_write, record_writes
from service.records import utcnow
from service.webhooks.tables import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

READERS = {
    "national": None,
    "province": "33",
    "regency": "33.28",
    "village": "33.28.02.2001",
    "other province": "35",
}

# (region_code, previous_region_code) of each event.
EVENTS = {
    "in the village": ("33.28.02.2001", None),
    "in a neighbouring village": ("33.28.02.2002", None),
    "in the district": ("33.28.02", None),
    "in another regency": ("33.29.01.2001", None),
    "in another province": ("35.75.01.1001", None),
    "national": (None, None),
    "moved out of the village": ("35.75.01.1001", "33.28.02.2001"),
    "moved into the village": ("33.28.02.2001", "35.75.01.1001"),
    "moved within the regency": ("33.28.02.2002", "33.28.02.2001"),
    # A prefix that is not a parent: 33.2 is no region, and 33.28 does not contain 33.280.
    "look-alike code": ("33.280", None),
}


async def _subscribe(
    session: AsyncSession, region: str | None, **fields: object
) -> tuple[Caller, uuid.UUID]:
    created = await create_client(
        session,
        operator(),
        name=f"outbox reader {uuid.uuid4().hex[:6]}",
        scopes=["changes:read", "webhooks:manage"],
        region_code=region,
    )
    subscription = WebhookSubscription(
        client_id=created.client.id, url="https://hooks.example.org/dinsos", secret="whsec_test"
    )
    for name, value in fields.items():
        setattr(subscription, name, value)
    session.add(subscription)
    await session.flush()
    caller = Caller(
        created.client.id, created.client.name, frozenset(created.client.scopes), region
    )
    return caller, subscription.id


async def _write(
    session: AsyncSession, path: str, events: dict[str, tuple[str | None, str | None]]
) -> dict[str, str]:
    """One change event per entry, by ``path``; the record id of each."""
    ids = {name: str(uuid.uuid4()) for name in events}
    writes = [
        Write("update", "kpm", ids[name], region, 2, {"address": ["a", "b"]}, None, previous)
        for name, (region, previous) in events.items()
    ]
    if path == "copy":
        await record_writes(session, operator(), writes)
    else:
        for write in writes:
            await record_write(
                session,
                operator(),
                action=write.action,
                entity=write.entity,
                record_id=write.record_id,
                region_code=write.region_code,
                version=write.version,
                changes=write.changes,
                previous_region_code=write.previous_region_code,
            )
    return ids


async def _delivered_records(session: AsyncSession, subscription_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        select(col(ChangeEvent.record_id))
        .join(WebhookDelivery, col(WebhookDelivery.event_id) == col(ChangeEvent.id))
        .where(col(WebhookDelivery.subscription_id) == subscription_id)
    )
    return list(rows.all())


@pytest.mark.parametrize("path", ["insert", "copy"])
async def test_fan_out_agrees_with_the_feed_for_every_reader(
    session: AsyncSession, path: str
) -> None:
    subscribers = {name: await _subscribe(session, region) for name, region in READERS.items()}
    ids = await _write(session, path, EVENTS)
    for name, (caller, subscription_id) in subscribers.items():
        feed = await session.scalars(
            visible_changes(caller)
            .with_only_columns(col(ChangeEvent.record_id))
            .where(col(ChangeEvent.record_id).in_(ids.values()))
        )
        delivered = await _delivered_records(session, subscription_id)
        assert sorted(delivered) == sorted(feed.all()), name
        assert len(delivered) == len(set(delivered)), f"{name}: one delivery per event"
    # And the matrix says what it should, so agreement is not agreement on nothing.
    seen_by_village = {
        event
        for event, record in ids.items()
        if record in await _delivered_records(session, subscribers["village"][1])
    }
    assert seen_by_village == {
        "in the village",
        "national",
        "moved out of the village",
        "moved into the village",
        "moved within the regency",
    }
    everything = await _delivered_records(session, subscribers["national"][1])
    assert sorted(everything) == sorted(ids.values())


async def test_a_delivery_copies_the_event_position_and_waits_due_now(
    session: AsyncSession,
) -> None:
    _, subscription_id = await _subscribe(session, "33.28")
    ids = await _write(session, "insert", {"one": ("33.28.02.2001", None)})
    event = (
        await session.scalars(select(ChangeEvent).where(col(ChangeEvent.record_id) == ids["one"]))
    ).one()
    (delivery,) = (
        await session.scalars(
            select(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription_id)
        )
    ).all()
    assert (delivery.event_id, delivery.txid) == (event.id, event.txid)
    assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("pending", 0, None)
    assert delivery.next_attempt_at == delivery.created_at  # due at once


async def test_a_rolled_back_write_leaves_no_delivery(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        _, subscription_id = await _subscribe(session, None)
    try:
        async with sessions() as session:
            await session.begin()
            # The bulk path first: its COPY must join the session's transaction too.
            await _write(session, "copy", {"one": ("33.28.02.2001", None)})
            await _write(session, "insert", {"two": ("33.28.02.2001", None)})
            assert len(await _delivered_records(session, subscription_id)) == 2
            await session.rollback()
        async with sessions() as session:
            assert await _delivered_records(session, subscription_id) == []
    finally:
        async with sessions() as session, session.begin():
            await session.execute(
                delete(ApiClient).where(
                    col(ApiClient.id).in_(
                        select(col(WebhookSubscription.client_id)).where(
                            col(WebhookSubscription.id) == subscription_id
                        )
                    )
                )
            )


async def test_who_gets_nothing(session: AsyncSession) -> None:
    _, deleted = await _subscribe(session, None, deleted_at=utcnow())
    _, other_type = await _subscribe(session, None, event_types=["program", "kube"])
    _, wanted_type = await _subscribe(session, None, event_types=["kpm"])
    _, paused = await _subscribe(session, None, status="paused")
    revoked_caller, revoked = await _subscribe(session, None)
    client = await session.get_one(ApiClient, revoked_caller.client_id)
    client.revoked_at = utcnow()
    no_feed = await create_client(
        session, operator(), name="no feed", scopes=["webhooks:manage"], region_code=None
    )
    without_scope = WebhookSubscription(
        client_id=no_feed.client.id, url="https://hooks.example.org/x", secret="whsec_test"
    )
    session.add(without_scope)
    await session.flush()
    await _write(session, "insert", {"one": ("33.28.02.2001", None)})
    assert await _delivered_records(session, deleted) == []
    assert await _delivered_records(session, other_type) == []
    assert await _delivered_records(session, revoked) == []
    assert await _delivered_records(session, without_scope.id) == []
    # Paused subscriptions keep queueing (they send again from where they paused).
    assert len(await _delivered_records(session, paused)) == 1
    assert len(await _delivered_records(session, wanted_type)) == 1
