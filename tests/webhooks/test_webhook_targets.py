"""No server-side request forgery: internal targets are refused when subscribing and when
sending, nothing reaches them, and the delivery log says why."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import Iterable
from pathlib import Path

import httpcore
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.errors import ValidationFailed
from service.webhooks.tables import WebhookAttempt, WebhookDelivery
from service.webhooks.targets import (
    GuardedNetworkBackend,
    TargetClient,
    TargetPolicy,
    check_target_url,
)
from tests.webhooks.certificates import CertificateAuthority
from tests.webhooks.conftest import DispatcherRunner, subscribe, write_changes
from tests.webhooks.receiver import Receiver, running_receiver

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


async def test_tls_verifies_the_host_name_on_the_connection_to_the_checked_address(
    tmp_path: Path,
) -> None:
    """The connection goes to the resolved address, and TLS still checks the certificate
    against the URL's host name (SNI): a certificate for another name is refused."""
    authority = CertificateAuthority()
    client = TargetClient(
        TargetPolicy(allow_private=True, connect_timeout=2, read_timeout=2, write_timeout=2),
        ssl_context=authority.client_context(),
    )
    try:
        right = authority.issue(tmp_path, "localhost")
        async with running_receiver(tls=right, name="localhost") as receiver:
            answer = await client.post(receiver.url("in"), {}, b"{}")
            assert answer.status_code == 200
            assert [message.path for message in receiver.received] == ["in"]
        wrong = authority.issue(tmp_path, "elsewhere.example")
        async with running_receiver(tls=wrong, name="localhost") as receiver:
            answer = await client.post(receiver.url("in"), {}, b"{}")
            assert answer.status_code is None
            assert answer.error is not None
            assert "CERTIFICATE_VERIFY_FAILED" in answer.error
            assert receiver.received == []
    finally:
        await client.close()


class RecordingBackend(httpcore.AnyIOBackend):
    """The real network backend, noting the host each connection is opened to."""

    def __init__(self) -> None:
        super().__init__()
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        return await super().connect_tcp(host, port, timeout, local_address, socket_options)


async def test_the_connection_goes_to_the_address_that_was_checked(receiver: Receiver) -> None:
    """No second lookup of the name (DNS rebinding): the socket is opened to the very address
    the check passed."""
    network = RecordingBackend()
    backend = GuardedNetworkBackend(TargetPolicy(allow_http=True, allow_private=True), network)
    url = receiver.url("named").replace("127.0.0.1", "localhost")
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        answer = await pool.request("POST", url, content=b"{}")
    assert answer.status == 200
    assert network.hosts
    assert all(ipaddress.ip_address(host).is_loopback for host in network.hosts)
    assert receiver.at("named") != []
