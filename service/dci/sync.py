"""The synchronous DCI answers (``registry/sync/search``, ``registry/sync/txn/status``), each in
one transaction of its own: the signature checked, the answer built, the message journaled
with it. A replayed message_id (found by the journal's unique index, at the end) rolls the
whole answer back, its audit entries included, and is refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.access import Caller
from service.database import OneStatement
from service.dci import journal
from service.dci.envelopes import RequestEnvelope
from service.dci.lookup import look_up, lookup_of
from service.dci.search import answer_search
from service.dci.sender_keys import (
    SenderKeyCache,
    active_keys,
    check_sender_with,
    check_signature,
    check_signature_with,
    registered_senders,
)
from service.settings import Settings

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True)
class Answer:
    """What the door puts in its answer's header and message."""

    status: str
    message: dict[str, Any]
    total_count: int
    completed_count: int
    reason_message: str | None = None


async def search(
    sessions: Sessions,
    caller: Caller,
    envelope: RequestEnvelope,
    *,
    settings: Settings,
    now: dt.datetime,
    statements: OneStatement | None = None,
    keys: SenderKeyCache | None = None,
) -> Answer:
    """The answer to a search message: a lookup by identifier in one statement
    (``service.dci.lookup``), anything else in a transaction."""
    caller.require("kpm:read")
    lookup = lookup_of(envelope.message) if statements is not None else None
    if statements is not None and lookup is not None:
        check_sender_with(await registered_senders(statements, caller, keys), envelope)
        check_signature_with(
            await active_keys(statements, caller, keys), envelope,
            required=settings.dci_signatures_required,
            max_age_seconds=settings.dci_signature_max_age_seconds, now=now,
        )  # fmt: skip
        message = await look_up(
            statements, caller, envelope, lookup, correlation_id=journal.new_correlation_id()
        )
        return Answer("succ", message, 1, 1)
    async with sessions() as session, session.begin():
        await _check_signature(session, caller, envelope, settings, now, keys)
        correlation_id = journal.new_correlation_id()
        message, total, completed = await answer_search(
            session, caller, envelope.message, correlation_id=correlation_id
        )
        answered = [item["status"] for item in message["search_response"]]
        status = "succ" if "succ" in answered else "rjct"
        await journal.record_answered(
            session, caller, envelope, correlation_id=correlation_id, status=status,
            response=journal.without_records(message),
        )  # fmt: skip
    reason = None if status == "succ" else "Every search request was rejected: see each reason."
    return Answer(status, message, total, completed, reason)


async def txn_status(
    sessions: Sessions,
    caller: Caller,
    envelope: RequestEnvelope,
    *,
    settings: Settings,
    now: dt.datetime,
    statements: OneStatement | None = None,
    keys: SenderKeyCache | None = None,
) -> Answer:
    caller.require("kpm:read")
    async with sessions() as session, session.begin():
        await _check_signature(session, caller, envelope, settings, now, keys)
        correlation_id = journal.new_correlation_id()
        message = await journal.transaction_status(
            session, caller, envelope.message, correlation_id=correlation_id
        )
        found = message["txnstatus_response"]["txn_status"]["search_response"]
        status = "succ" if found else "rjct"
        await journal.record_answered(
            session, caller, envelope, correlation_id=correlation_id, status=status,
            response=message,
        )  # fmt: skip
    reason = None if found else "No transaction of this client matches."
    return Answer(status, message, 1, 1, reason)


async def _check_signature(
    session: AsyncSession,
    caller: Caller,
    envelope: RequestEnvelope,
    settings: Settings,
    now: dt.datetime,
    keys: SenderKeyCache | None,
) -> None:
    await check_signature(
        session,
        caller,
        envelope,
        required=settings.dci_signatures_required,
        max_age_seconds=settings.dci_signature_max_age_seconds,
        now=now,
        cache=keys,
    )
