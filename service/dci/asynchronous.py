"""The asynchronous DCI door: a message is acknowledged at once (the spec's ``Response``:
``ack_status`` and our ``correlation_id``) and answered later by a callback POSTed to the
sender's ``header.sender_uri`` through the outbox (``service.dci.deliveries``): signed, retried,
in order per address, never to a disallowed address.

One transaction per message: the envelope checked, the signature verified, the message journaled
(a replayed ``message_id`` is caught), the answer built (a search's unmasked reads audited), and
the callback queued, all or nothing. The journal says ``pdng`` until the callback is delivered;
then it says what the callback said (``succ``, or ``rjct``) and keeps it, for ``txn/status``.

What is refused, and how:

- a body that is no envelope at all: ``ack_status`` ``ERR``, ``err.request.bad``;
- the transport's errors (signature, scope, encryption, receiver): the HTTP errors of the
  synchronous door (``err.*``);
- no usable ``sender_uri`` (missing, not https, credentials in it, a literal address that is not
  public): ``err.sender_uri.invalid`` (HTTP 403): there is nowhere to call back;
- the header's ``rjct`` reasons (version, message_ts, action, total_count, a replayed
  message_id) and a refused message: acknowledged, then called back with ``status: rjct`` and
  the reason code in the callback's header.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access import Caller
from service.dci import reasons
from service.dci.deliveries import checked_callback_uri, queue_callback
from service.dci.envelopes import RequestEnvelope, callback_header, read_envelope, timestamp
from service.dci.journal import (
    finish,
    new_correlation_id,
    record_message,
    transaction_status,
    without_records,
)
from service.dci.reasons import DciRejection
from service.dci.search import answer_search
from service.dci.sender_keys import SenderKeyCache, active_keys, check_signature
from service.dci.subscriptions import SCOPES, subscribe, unsubscribe
from service.kpm.views import PII_SCOPE
from service.settings import Settings
from service.webhooks.targets import TargetPolicy

REQUEST_BAD = "err.request.bad"


@dataclass(frozen=True)
class Answer:
    """What a callback says: the header's status, the message, and the header's counts."""

    status: str
    message: dict[str, Any]
    total_count: int
    completed_count: int
    # What the journal keeps of it once delivered (default: the message itself).
    kept: dict[str, Any] | None = None
    reason_message: str | None = None


# Builds the answer of an accepted message, in the message's transaction.
Answerer = Callable[[AsyncSession, Caller, RequestEnvelope, str], Awaitable[Answer]]


@dataclass(frozen=True)
class Action:
    """An asynchronous action: the action its requests carry, the action of its callback, and
    how it is answered."""

    name: str
    callback: str
    answer: Answerer
    # What the caller needs, checked before anything else (a refusal is called back only to
    # a caller that may send the message at all).
    scopes: tuple[str, ...] = ("kpm:read",)


def ack(correlation_id: str, error: DciRejection | None = None) -> dict[str, Any]:
    """The spec's ``Response``: ``ACK``, or ``ERR`` with the error."""
    message: dict[str, Any] = {
        "ack_status": "ACK" if error is None else "ERR",
        "timestamp": timestamp(),
        "correlation_id": correlation_id,
    }
    if error is not None:
        message["error"] = {"code": error.code or REQUEST_BAD, "message": error.message[:999]}
    return {"message": message}


async def accept(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    body: Any,
    action: Action,
    *,
    settings: Settings,
    now: dt.datetime,
    keys: SenderKeyCache | None = None,
) -> dict[str, Any]:
    """Acknowledge ``body`` and queue its callback, in one transaction; the ``Response``.
    ``keys``: the senders' keys this process remembers (as the synchronous door uses them)."""
    missing = [scope for scope in action.scopes if not caller.has(scope)]
    if missing:
        raise DciRejection(
            reasons.REQUEST_FORBIDDEN, f"This message needs the scopes {', '.join(action.scopes)}."
        )
    policy = TargetPolicy.from_settings(settings)
    async with sessions() as session, session.begin():
        try:
            envelope = read_envelope(
                body, action=action.name, now=now, registry_id=settings.dci_registry_id
            )
        except DciRejection as refusal:
            if refusal.is_error:
                raise
            if not refusal.code:
                return ack(new_correlation_id(), refusal)
            await _check_raw_signature(session, caller, body, settings, now, keys)
            return await _called_back_rejected(
                session, caller, body, action, refusal, settings, journal=True
            )
        await check_signature(
            session,
            caller,
            envelope,
            required=settings.dci_signatures_required,
            max_age_seconds=settings.dci_signature_max_age_seconds,
            now=now,
            cache=keys,
        )
        uri = checked_callback_uri(envelope.header.get("sender_uri"), policy)
        try:
            txn = await record_message(session, caller, envelope, status="pdng")
        except DciRejection as refusal:
            if refusal.is_error:
                raise
            return await _called_back_rejected(session, caller, body, action, refusal, settings)
        try:
            answer = await action.answer(session, caller, envelope, txn.correlation_id)
        except DciRejection as refusal:
            if refusal.is_error:
                raise
            header = _header(envelope.header, action, "rjct", settings, refusal=refusal)
            await finish(session, txn, status="rjct", response={})
            await queue_callback(session, caller, uri, header, None)
            return ack(txn.correlation_id)
        header = _header(
            envelope.header,
            action,
            answer.status,
            settings,
            counts=(answer.total_count, answer.completed_count),
            reason_message=answer.reason_message,
        )
        await queue_callback(
            session,
            caller,
            uri,
            header,
            answer.message,
            dci_transaction_id=txn.id,
            dci_response=answer.kept if answer.kept is not None else answer.message,
            # A search's records are unmasked for a client with pii:read.
            personal=answer.kept is not None and caller.has(PII_SCOPE),
        )
        return ack(txn.correlation_id)


def _header(
    request_header: Mapping[str, Any] | None,
    action: Action,
    status: str,
    settings: Settings,
    *,
    counts: tuple[int, int] | None = None,
    refusal: DciRejection | None = None,
    reason_message: str | None = None,
) -> dict[str, Any]:
    total = (request_header or {}).get("total_count")
    if counts is None:
        counts = (total if isinstance(total, int) and not isinstance(total, bool) else 0, 0)
    return callback_header(
        request_header,
        action=action.callback,
        status=status,
        registry_id=settings.dci_registry_id,
        total_count=counts[0],
        completed_count=counts[1],
        reason_code=refusal.code if refusal is not None else None,
        reason_message=refusal.message if refusal is not None else reason_message,
    )


async def _check_raw_signature(
    session: AsyncSession,
    caller: Caller,
    body: Mapping[str, Any],
    settings: Settings,
    now: dt.datetime,
    keys: SenderKeyCache | None,
) -> None:
    """The signature (and sender id) of a message refused for its header, checked as an
    accepted one's would be before anything is queued for it: a callback goes only to a
    sender that proved who it is (when it must)."""
    header, message = body.get("header"), body.get("message")
    signature = body.get("signature")
    if not isinstance(header, Mapping) or not isinstance(message, Mapping):
        if settings.dci_signatures_required or await active_keys(session, caller, keys):
            raise DciRejection(
                reasons.SIGNATURE_INVALID, "A signed message has a header and a message object."
            )
        return
    envelope = RequestEnvelope(
        signature=signature if isinstance(signature, str) else None,
        header=dict(header),
        message=dict(message),
    )
    await check_signature(
        session,
        caller,
        envelope,
        required=settings.dci_signatures_required,
        max_age_seconds=settings.dci_signature_max_age_seconds,
        now=now,
        cache=keys,
    )


async def _called_back_rejected(
    session: AsyncSession,
    caller: Caller,
    body: Mapping[str, Any],
    action: Action,
    refusal: DciRejection,
    settings: Settings,
    *,
    journal: bool = False,
) -> dict[str, Any]:
    """A message refused with a header reason: acknowledged, and called back with it (when it
    names where; else ``err.sender_uri.invalid``). ``journal``: the refusal is journaled (as
    the endpoint's action, ``rjct``) under the correlation id handed back, so ``txn/status``
    finds it (a replay is not: its message_id is the first message's)."""
    policy = TargetPolicy.from_settings(settings)
    header_in = body.get("header") if isinstance(body.get("header"), Mapping) else None
    uri = checked_callback_uri((header_in or {}).get("sender_uri"), policy)
    header = _header(header_in, action, "rjct", settings, refusal=refusal)
    correlation_id = new_correlation_id()
    if journal and header_in is not None:
        message_in = body.get("message")
        envelope = RequestEnvelope(
            signature=None,
            header={**header_in, "action": action.name},
            message=dict(message_in) if isinstance(message_in, Mapping) else {},
        )
        try:
            txn = await record_message(
                session, caller, envelope, status="rjct", correlation_id=correlation_id
            )
        except DciRejection:
            pass  # a replay of a message refused before: the first one is journaled
        else:
            await finish(
                session,
                txn,
                status="rjct",
                response={"refused": {"code": refusal.code, "message": refusal.message[:999]}},
            )
    await queue_callback(session, caller, uri, header, None)
    return ack(correlation_id)


# --- the actions ------------------------------------------------------------------------------


async def _search(
    session: AsyncSession, caller: Caller, envelope: RequestEnvelope, correlation_id: str
) -> Answer:
    message, total, completed = await answer_search(
        session, caller, envelope.message, correlation_id=correlation_id
    )
    # As the synchronous door says it: succ when some request was answered.
    if any(item["status"] == "succ" for item in message["search_response"]):
        return Answer("succ", message, total, completed, without_records(message))
    return Answer(
        "rjct",
        message,
        total,
        completed,
        without_records(message),
        "Every search request was rejected: see each reason.",
    )


async def _txn_status(
    session: AsyncSession, caller: Caller, envelope: RequestEnvelope, correlation_id: str
) -> Answer:
    message = await transaction_status(
        session, caller, envelope.message, correlation_id=correlation_id
    )
    found = message["txnstatus_response"]["txn_status"]["search_response"]
    if found:
        return Answer("succ", message, 1, 1)
    return Answer("rjct", message, 1, 1, reason_message="No transaction of this client matches.")


def _subscribing(notify_uri_of: Callable[[RequestEnvelope], str], limit: int) -> Answerer:
    async def answer(
        session: AsyncSession, caller: Caller, envelope: RequestEnvelope, correlation_id: str
    ) -> Answer:
        message, total, completed = await subscribe(
            session,
            caller,
            envelope,
            notify_uri=notify_uri_of(envelope),
            correlation_id=correlation_id,
            limit=limit,
        )
        return Answer("succ", message, total, completed)

    return answer


async def _unsubscribe(
    session: AsyncSession, caller: Caller, envelope: RequestEnvelope, correlation_id: str
) -> Answer:
    message = await unsubscribe(session, caller, envelope, correlation_id=correlation_id)
    return Answer(message["status"], message, 1, 1)


def actions(settings: Settings) -> dict[str, Action]:
    """The asynchronous actions, by the action their requests carry."""
    policy = TargetPolicy.from_settings(settings)

    def notify_uri(envelope: RequestEnvelope) -> str:
        return checked_callback_uri(envelope.header.get("sender_uri"), policy)

    return {
        "search": Action("search", "on-search", _search),
        "txn-status": Action("txn-status", "txn-on-status", _txn_status),
        "subscribe": Action(
            "subscribe",
            "on-subscribe",
            _subscribing(notify_uri, settings.dci_max_subscriptions_per_client),
            SCOPES,
        ),
        "unsubscribe": Action("unsubscribe", "on-unsubscribe", _unsubscribe, SCOPES),
    }
