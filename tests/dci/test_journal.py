"""The DCI journal: a replayed message_id is refused, also when both copies arrive at once, and
txn/status finds only the caller's own transactions."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.access import Caller
from service.database import create_session_factory
from service.dci import journal
from service.dci.envelopes import read_envelope
from service.dci.reasons import DciRejection
from tests.factories import ClientFactory, IssuedClient


def caller_of(client: IssuedClient) -> Caller:
    return Caller(uuid.UUID(client.client_id), "test", frozenset({"kpm:read"}), client.region)


def envelope(message_id: str, *references: str) -> Any:
    body = {
        "header": {
            "version": "1.0.0",
            "message_id": message_id,
            "message_ts": "2026-11-30T10:00:00Z",
            "action": "search",
            "sender_id": "sidesa.example.org",
            "total_count": len(references),
        },
        "message": {
            "transaction_id": f"t-{message_id}",
            "search_request": [{"reference_id": reference} for reference in references],
        },
    }
    return read_envelope(body, action="search", now=dt.datetime.now(dt.UTC))


async def test_a_replayed_message_id_is_refused(
    session: AsyncSession, clients: ClientFactory
) -> None:
    caller = caller_of(await clients(scopes=["kpm:read"]))
    first = await journal.record_message(session, caller, envelope("m-1", "r-1"))
    assert first.status == "rcvd"
    assert first.reference_ids == ["r-1"]
    with pytest.raises(DciRejection) as replay:
        await journal.record_message(session, caller, envelope("m-1", "r-1"))
    assert replay.value.code == "rjct.message_id.duplicate"
    # Another client may use the same message_id: ids are the sender's own.
    other = caller_of(await clients(scopes=["kpm:read"]))
    assert await journal.record_message(session, other, envelope("m-1", "r-1"))


async def test_two_copies_at_once_let_one_in(
    engine: AsyncEngine, live_clients: ClientFactory
) -> None:
    caller = caller_of(await live_clients(scopes=["kpm:read"]))
    message = envelope(f"race-{uuid.uuid4().hex}", "r-1")
    sessions = create_session_factory(engine)

    async def record() -> str:
        async with sessions() as session, session.begin():
            try:
                await journal.record_message(session, caller, message)
            except DciRejection as refusal:
                return refusal.code
            await asyncio.sleep(0.2)  # the other copy's INSERT waits for this commit
            return "recorded"

    outcomes = sorted(await asyncio.gather(record(), record()))
    assert outcomes == ["recorded", "rjct.message_id.duplicate"]


async def test_txn_status_finds_only_the_callers_own(
    session: AsyncSession, clients: ClientFactory
) -> None:
    owner = caller_of(await clients(scopes=["kpm:read"]))
    stranger = caller_of(await clients(scopes=["kpm:read"]))
    txn = await journal.record_message(session, owner, envelope("m-2", "r-1", "r-2"))
    answer = {"transaction_id": "t-m-2", "correlation_id": txn.correlation_id,
              "search_response": [{"reference_id": "r-1", "timestamp": "2026-11-30T10:00:00Z",
                                   "status": "succ", "data": {"reg_records": []}}]}  # fmt: skip
    await journal.finish(session, txn, status="succ", response=answer)

    def asking(attribute: str, value: object) -> dict[str, Any]:
        return {"transaction_id": "t-status", "txnstatus_request": {
            "reference_id": "q-1", "txn_type": "search",
            "attribute_type": attribute, "attribute_value": value}}  # fmt: skip

    by_id = await journal.transaction_status(session, owner, asking("transaction_id", "t-m-2"))
    items = by_id["txnstatus_response"]["txn_status"]["search_response"]
    assert [(item["reference_id"], item["status"]) for item in items] == [
        ("r-1", "succ"),
        ("r-2", "succ"),
    ]
    assert items[0]["data"] == {"reg_records": []}
    by_reference = await journal.transaction_status(
        session, owner, asking("reference_id_list", ["r-2"])
    )
    assert [i["reference_id"] for i in by_reference["txnstatus_response"]["txn_status"][
        "search_response"]] == ["r-2"]  # fmt: skip
    for attribute, value in (("transaction_id", "t-m-2"), ("correlation_id", txn.correlation_id)):
        theirs = await journal.transaction_status(session, stranger, asking(attribute, value))
        assert theirs["txnstatus_response"]["txn_status"]["search_response"] == []
