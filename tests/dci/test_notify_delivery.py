"""What a notification carries and how it travels: a subscriber with ``pii:read`` receives the
members unmasked, and that read is in the audit trail before the message reaches it; a
notification its endpoint refused is sent again, with the same ``message_id``."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.database import create_session_factory
from tests.dci.async_setup import (
    VILLAGE,
    ApiRunner,
    DispatcherRunner,
    dci_api,
    dci_database,
    dci_engine,
    dci_settings,
    dispatching,
    envelope,
    notified,
    receiver,
    subscribe_message,
    verify_callback,
)
from tests.factories import family_body
from tests.webhooks.receiver import Received, Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

__all__ = ["dci_api", "dci_database", "dci_engine", "dci_settings", "dispatching", "receiver"]


async def _audited(engine: AsyncEngine, client_id: str) -> list[tuple[str, str | None]]:
    async with create_session_factory(engine)() as session:
        rows = await session.execute(
            select(col(AuditEntry.record_id), col(AuditEntry.region_code)).where(
                col(AuditEntry.action) == "read_pii",
                col(AuditEntry.client_id) == uuid.UUID(client_id),
            )
        )
        return [(record, region) for record, region in rows.all()]


async def test_members_unmasked_for_pii_read_audited_before_they_leave_and_retried(
    dci_api: ApiRunner,
    dispatching: DispatcherRunner,
    receiver: Receiver,
    dci_engine: AsyncEngine,
) -> None:
    audited_on_arrival: list[list[tuple[str, str | None]]] = []
    subscriber_id = ""

    async def refuse_the_first_notify(message: Received) -> int:
        if message.message["header"]["action"] != "notify":
            return 200
        audited_on_arrival.append(await _audited(dci_engine, subscriber_id))
        return 503 if len(audited_on_arrival) == 1 else 200

    receiver.answer = refuse_the_first_notify
    async with dci_api() as (http, clients):
        subscriber = await clients(region=VILLAGE, scopes=["kpm:read", "changes:read", "pii:read"])
        subscriber_id = subscriber.client_id
        writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
        message = subscribe_message("REGISTER")
        message["subscribe_request"][0]["subscribe_criteria"]["notify_record_type"] = "Member"
        request = envelope("subscribe", message, sender_uri=receiver.url("members"))
        acked = await http.post("/dci/registry/subscribe", json=request, headers=subscriber.headers)
        assert acked.json()["message"]["ack_status"] == "ACK", acked.text
        async with dispatching():
            family = family_body()
            created = await http.post("/api/v1/kpm", json=family, headers=writer.headers)
            assert created.status_code == 201, created.text
            await receiver.wait_until(lambda: len(notified(receiver, "members")) == 1)
        attempts = [m for m in receiver.at("members") if m.message["header"]["action"] == "notify"]
        assert [attempt.answered for attempt in attempts] == [503, 200]
        first, second = (attempt.message for attempt in attempts)
        assert first["header"]["message_id"] == second["header"]["message_id"]
        await verify_callback(http, second, "/registry/notify")
        events = second["message"]["notify_event"]
        assert {event["data"]["reg_record_type"] for event in events} == {"Member"}
        niks = {
            event["data"]["reg_records"]["member_identifier"][0]["identifier_value"]
            for event in events
        }
        assert niks == {member["nik"] for member in family["members"]}
        # The audit entry of the unmasked read was committed before the first attempt left.
        assert audited_on_arrival[0] == [(created.json()["id"], VILLAGE)]
