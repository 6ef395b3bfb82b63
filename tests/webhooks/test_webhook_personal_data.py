"""A change of a family reaches each subscription as the feed would show it to the
subscription's client: NIKs masked without ``pii:read``, unmasked with it, and then the
read is audited, committed before the message leaves."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.auth.clients import operator
from service.journal import record_write
from tests.factories import family_body
from tests.webhooks.conftest import VILLAGE, DispatcherRunner, subscribe
from tests.webhooks.receiver import Received, Receiver

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def test_personal_numbers_are_masked_or_audited_before_they_leave(
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    dispatching: DispatcherRunner,
) -> None:
    plain = await subscribe(committed, receiver.url("masked"))
    trusted = await subscribe(
        committed,
        receiver.url("unmasked"),
        scopes=("changes:read", "webhooks:manage", "pii:read"),
    )
    clients = {"masked": plain.client_id, "unmasked": trusted.client_id}
    audited_on_arrival: dict[str, int] = {}

    async def count_the_audit_entries_on_arrival(message: Received) -> int:
        async with committed() as session:
            audited_on_arrival[message.path] = (
                await session.scalar(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(
                        col(AuditEntry.action) == "read_pii",
                        col(AuditEntry.record_id) == message.record_id,
                        col(AuditEntry.client_id) == clients[message.path],
                    )
                )
                or 0
            )
        return 200

    receiver.answer = count_the_audit_entries_on_arrival
    body = family_body()
    # The family as a REST read shows it, carried by its change event as every writer does.
    family = {"id": str(uuid.uuid4()), "village_code": VILLAGE, "address": body["address"]}
    family |= {"no_kk": body["no_kk"], "members": body["members"]}
    async with dispatching():
        async with committed() as session, session.begin():
            await record_write(
                session,
                operator(),
                action="update",
                entity="kpm",
                record_id=family["id"],
                region_code=VILLAGE,
                version=2,
                changes={"address": ["old", body["address"]]},
                payload=family,
            )
        await receiver.wait_until(
            lambda: (
                len(receiver.accepted("masked")) == 1 and len(receiver.accepted("unmasked")) == 1
            )
        )

    [masked] = receiver.at("masked")
    [unmasked] = receiver.at("unmasked")
    assert masked.message["type"] == unmasked.message["type"] == "kpm.update"
    niks = sorted(member["nik"] for member in body["members"])
    assert sorted(m["nik"] for m in unmasked.message["data"]["record"]["members"]) == niks
    assert unmasked.message["data"]["record"]["no_kk"] == body["no_kk"]
    masked_niks = [m["nik"] for m in masked.message["data"]["record"]["members"]]
    assert all(nik not in niks and "*" in nik for nik in masked_niks)
    # The unmasked read was audited, and committed before the message arrived.
    assert audited_on_arrival == {"masked": 0, "unmasked": 1}
