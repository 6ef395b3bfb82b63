"""Webhooks delivered to a real receiver: signed, in order, retried, parked, redelivered."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.webhooks.dispatcher import wake_dispatchers
from service.webhooks.subscriptions import new_secret
from service.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests.api.changes_feed import journal_change
from tests.webhooks.conftest import VILLAGE, DispatcherRunner, subscribe, write_changes
from tests.webhooks.receiver import Received, Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def deliveries_of(
    sessions: async_sessionmaker[AsyncSession], subscription_id: uuid.UUID
) -> list[WebhookDelivery]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(WebhookDelivery)
                .where(col(WebhookDelivery.subscription_id) == subscription_id)
                .order_by(col(WebhookDelivery.txid), col(WebhookDelivery.event_id))
            )
        )


async def settled(
    sessions: async_sessionmaker[AsyncSession], subscription_id: uuid.UUID, statuses: list[str]
) -> list[WebhookDelivery]:
    """The deliveries once their statuses are ``statuses``. The receiver has answered before
    the dispatcher writes the outcome, and the database sends no signal for it: look again
    every 50 ms, for at most 10 s."""
    async with asyncio.timeout(10):
        while True:
            deliveries = await deliveries_of(sessions, subscription_id)
            if [d.status for d in deliveries] == statuses:
                return deliveries
            await asyncio.sleep(0.05)


async def attempts_of(
    sessions: async_sessionmaker[AsyncSession], delivery_id: int | None
) -> list[WebhookAttempt]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(WebhookAttempt)
                .where(col(WebhookAttempt.delivery_id) == delivery_id)
                .order_by(col(WebhookAttempt.id))
            )
        )


async def subscription_row(
    sessions: async_sessionmaker[AsyncSession], subscription_id: uuid.UUID
) -> WebhookSubscription:
    async with sessions() as session:
        found = await session.get(WebhookSubscription, subscription_id)
        assert found is not None
        return found


async def test_committed_writes_arrive_signed_once_each_in_commit_order(
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    dispatching: DispatcherRunner,
) -> None:
    secret = new_secret()
    receiver.secrets = {"secret": secret}
    subscription = await subscribe(committed, receiver.url("village"), secret=secret)
    async with dispatching():
        written = await write_changes(committed, 5)
        # A change elsewhere in the regency is not the village's.
        await write_changes(committed, 1, region="33.28.02.2002")
        written += await write_changes(committed, 3)
        await receiver.wait_until(lambda: len(receiver.accepted("village")) == 8)

    arrived = receiver.at("village")
    assert [message.record_id for message in arrived] == written
    assert all(message.verified_by == ["secret"] for message in arrived)
    assert len({message.message_id for message in arrived}) == 8
    first = arrived[0].message
    assert first["type"] == "kpm.update"
    assert first["data"]["record_id"] == written[0]
    assert first["data"]["region_code"] == "33.28.02.2001"
    assert first["data"]["changed_fields"] == ["address"]
    assert first["timestamp"] == first["data"]["occurred_at"]

    deliveries = await settled(committed, subscription.id, ["delivered"] * 8)
    assert [f"msg_{d.id}" for d in deliveries] == [m.message_id for m in arrived]
    log = await attempts_of(committed, deliveries[0].id)
    assert [(a.status_code, a.error) for a in log] == [(200, None)]


async def test_a_failing_message_is_retried_and_the_later_ones_wait_for_it(
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    dispatching: DispatcherRunner,
) -> None:
    secret = new_secret()
    receiver.secrets = {"secret": secret}
    subscription = await subscribe(committed, receiver.url("flaky"), secret=secret)
    tries: dict[str, int] = {}

    async def fail_the_first_three_tries_of_the_first(message: Received) -> int:
        tries[message.message_id] = tries.get(message.message_id, 0) + 1
        if len(tries) == 1 and tries[message.message_id] <= 3:
            return 500
        return 204

    receiver.answer = fail_the_first_three_tries_of_the_first
    async with dispatching():
        written = await write_changes(committed, 4)
        await receiver.wait_until(lambda: len(receiver.accepted("flaky")) == 4)

    arrived = receiver.at("flaky")
    # The first message four times (three 500s, then accepted), the others after it, once.
    assert [m.record_id for m in arrived] == [written[0]] * 4 + written[1:]
    assert [m.answered for m in arrived] == [500, 500, 500, 204, 204, 204, 204]
    assert len({m.message_id for m in arrived[:4]}) == 1  # the same webhook-id on every retry
    assert all(m.verified_by == ["secret"] for m in arrived)
    deliveries = await settled(committed, subscription.id, ["delivered"] * 4)
    assert [(d.status, d.attempts) for d in deliveries] == [
        ("delivered", 4),
        ("delivered", 1),
        ("delivered", 1),
        ("delivered", 1),
    ]
    log = await attempts_of(committed, deliveries[0].id)
    assert [a.status_code for a in log] == [500, 500, 500, 204]
    assert log[0].error is not None
    assert log[0].error.startswith("HTTP 500")


async def test_a_receiver_that_does_not_answer_in_time_gets_the_message_again(
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    dispatching: DispatcherRunner,
) -> None:
    subscription = await subscribe(committed, receiver.url("slow"))
    seen: set[str] = set()

    async def too_slow_the_first_time(message: Received) -> int:
        if message.message_id not in seen:
            seen.add(message.message_id)
            await asyncio.sleep(3)  # beyond the dispatcher's 1 s read timeout
            return 503
        return 200

    receiver.answer = too_slow_the_first_time
    async with dispatching():
        written = await write_changes(committed, 2)
        await receiver.wait_until(lambda: len(receiver.accepted("slow")) == 2)

    accepted = receiver.accepted("slow")
    assert [m.record_id for m in accepted] == written
    deliveries = await settled(committed, subscription.id, ["delivered"] * 2)
    assert [d.attempts for d in deliveries] == [2, 2]
    log = await attempts_of(committed, deliveries[0].id)
    assert log[0].status_code is None
    assert log[0].error is not None
    assert log[0].error.startswith("timeout")
    assert log[1].status_code == 200


async def test_after_the_retry_window_a_message_is_parked_then_redelivered(
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    dispatching: DispatcherRunner,
) -> None:
    subscription = await subscribe(committed, receiver.url("down"))
    broken = True

    async def the_first_message_fails_while_broken(message: Received) -> int:
        if broken and message.message_id == receiver.at("down")[0].message_id:
            return 500
        return 200

    receiver.answer = the_first_message_fails_while_broken
    async with dispatching(webhook_retry_window_seconds=1.0):
        written = await write_changes(committed, 2)
        # Given up on after the window, the first message no longer holds the second back.
        await receiver.wait_until(lambda: len(receiver.accepted("down")) == 1)
        assert receiver.accepted("down")[0].record_id == written[1]
        first, _ = await settled(committed, subscription.id, ["parked", "delivered"])
        assert first.attempts >= 2
        assert first.last_status_code == 500
        failing = await subscription_row(committed, subscription.id)
        assert failing.status == "failing"
        assert failing.failing_since is not None

        # Redelivery (what the subscription API does): pending again, a new run of tries.
        broken = False
        async with committed() as session, session.begin():
            await session.execute(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == first.id)
                .values(status="pending", attempts=0, next_attempt_at=text("now()"))
            )
            await wake_dispatchers(session)
        await receiver.wait_until(lambda: len(receiver.accepted("down")) == 2)

    redelivered = receiver.accepted("down")[1]
    assert redelivered.record_id == written[0]
    assert redelivered.message_id == f"msg_{first.id}"
    assert redelivered.message_id == receiver.at("down")[0].message_id
    await settled(committed, subscription.id, ["delivered", "delivered"])
    healthy = await subscription_row(committed, subscription.id)
    assert (healthy.status, healthy.failing_since) == ("active", None)


async def test_during_the_grace_time_both_the_old_and_the_new_secret_verify(
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    dispatching: DispatcherRunner,
) -> None:
    old, new = new_secret(), new_secret()
    receiver.secrets = {"old": old, "new": new}
    subscription = await subscribe(
        committed,
        receiver.url("rotated"),
        secret=new,
        previous_secret=old,
        previous_secret_expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    async with dispatching():
        await write_changes(committed, 1)
        await receiver.wait_until(lambda: len(receiver.accepted("rotated")) == 1)
        async with committed() as session, session.begin():
            await session.execute(
                update(WebhookSubscription)
                .where(col(WebhookSubscription.id) == subscription.id)
                .values(previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        await write_changes(committed, 1)
        await receiver.wait_until(lambda: len(receiver.accepted("rotated")) == 2)

    during, after = receiver.at("rotated")
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verified_by == ["old", "new"]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert after.verified_by == ["new"]


async def test_a_paused_subscription_sends_nothing_until_it_is_resumed(
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    dispatching: DispatcherRunner,
) -> None:
    paused = await subscribe(committed, receiver.url("paused"), status="paused")
    await subscribe(committed, receiver.url("marker"))
    async with dispatching():
        written = await write_changes(committed, 2)
        await receiver.wait_until(lambda: len(receiver.accepted("marker")) == 2)
        assert receiver.at("paused") == []
        assert [d.status for d in await deliveries_of(committed, paused.id)] == ["pending"] * 2

        async with committed() as session, session.begin():
            await session.execute(
                update(WebhookSubscription)
                .where(col(WebhookSubscription.id) == paused.id)
                .values(status="active")
            )
            await wake_dispatchers(session)
        await receiver.wait_until(lambda: len(receiver.accepted("paused")) == 2)
    assert [m.record_id for m in receiver.at("paused")] == written
    await settled(committed, paused.id, ["delivered"] * 2)


async def test_a_change_committed_late_is_still_sent_before_the_later_ones(
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    dispatching: DispatcherRunner,
) -> None:
    await subscribe(committed, receiver.url("late"))
    async with dispatching():
        async with committed() as slow, slow.begin():
            # The slow writer takes its transaction id first and commits last.
            early = await journal_change(slow, VILLAGE)
            quick = await write_changes(committed, 2)
            # Room for the dispatcher to send the quick changes too early (it must not:
            # they lie beyond the feed's horizon while the slow writer runs).
            await asyncio.sleep(0.5)
            assert receiver.at("late") == []
        await receiver.wait_until(lambda: len(receiver.accepted("late")) == 3)
    assert [m.record_id for m in receiver.at("late")] == [early, *quick]
