"""No server-side request forgery: internal targets are refused when subscribing and when
sending, nothing reaches them, and the delivery log says why."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.errors import ValidationFailed
from service.webhooks.tables import WebhookAttempt, WebhookDelivery
from service.webhooks.targets import TargetPolicy, check_target_url
from tests.webhooks.conftest import DispatcherRunner, subscribe, write_changes
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

STRICT = TargetPolicy()


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.org/dinsos", "https_required"),
        ("ftp://hooks.example.org/", "https_required"),
        ("https:///path-only", "host_required"),
        ("https://user:pass@hooks.example.org/", "credentials_in_url"),
        ("https://127.0.0.1/", "private_target"),
        ("https://169.254.169.254/latest/meta-data/", "private_target"),
        ("https://10.0.0.1/", "private_target"),
        ("https://[::1]/", "private_target"),
        ("https://[::ffff:127.0.0.1]/", "private_target"),
        ("https://100.100.100.200/", "private_target"),
        ("https://[fd00:ec2::254]/", "private_target"),
        ("https://hooks.example.org:notaport/", "invalid_url"),
    ],
)
def test_a_subscription_to_an_internal_or_plain_target_is_refused(url: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_target_url(url, STRICT)
    [error] = refused.value.errors
    assert (error.field, error.code) == ("url", code)


def test_public_https_targets_are_accepted_and_the_operator_may_open_up_the_rest() -> None:
    assert check_target_url("https://hooks.example.org/dinsos", STRICT)
    assert check_target_url("https://93.184.215.14:8443/in", STRICT)
    # A name is checked when sending, on what it resolves to then.
    assert check_target_url("https://localhost/", STRICT)
    open_network = TargetPolicy(allow_http=True, allow_private=True)
    assert check_target_url("http://10.0.0.1:8080/hook", open_network)


async def test_internal_targets_are_refused_when_sending_and_nothing_reaches_them(
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    dispatching: DispatcherRunner,
) -> None:
    port = receiver.base_url.rsplit(":", 1)[1]
    targets = {
        # Plain http to the test's own receiver (allowed here), so that a leak would arrive.
        f"http://127.0.0.1:{port}/literal": "127.0.0.1 is a loopback address",
        f"http://localhost:{port}/named": "localhost resolves to",
        "https://127.0.0.1/": "127.0.0.1 is a loopback address",
        "https://169.254.169.254/": "169.254.169.254 is a cloud metadata address",
        "https://10.0.0.1/": "10.0.0.1 is a private address",
        "https://localhost/": "localhost resolves to",
    }
    subscriptions = {
        (await subscribe(committed, url)).id: reason for url, reason in targets.items()
    }
    async with dispatching(webhook_allow_private_targets=False, webhook_retry_window_seconds=0):
        await write_changes(committed, 1)
        errors = await first_attempt_errors(committed, list(subscriptions))

    assert receiver.received == []
    for subscription_id, reason in subscriptions.items():
        error = errors[subscription_id]
        assert error is not None
        assert error.startswith(f"refused: {reason}")
        # A name may resolve to 127.0.0.1 or ::1 first; either is loopback.
        assert error.endswith("address")
        assert "loopback" in error or "metadata" in error or "private" in error


async def first_attempt_errors(
    sessions: async_sessionmaker[AsyncSession], subscription_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    """The error of each subscription's first attempt, once every one has one (the log is
    looked at every 50 ms: the database sends no signal for it)."""
    query = (
        select(col(WebhookDelivery.subscription_id), col(WebhookAttempt.error))
        .join(WebhookAttempt, col(WebhookAttempt.delivery_id) == col(WebhookDelivery.id))
        .where(col(WebhookDelivery.subscription_id).in_(subscription_ids))
        .order_by(col(WebhookAttempt.id).desc())
    )
    async with asyncio.timeout(10):
        while True:
            async with sessions() as session:
                rows = (await session.execute(query)).all()
            errors = {row.subscription_id: row.error for row in rows}
            if len(errors) == len(subscription_ids):
                return errors
            await asyncio.sleep(0.05)
