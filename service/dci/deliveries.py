"""DCI messages through the webhook outbox (``service.webhooks``): one dispatcher, one set of
guarantees (the address policy of ``targets.py`` at queueing and at every attempt, retries with
backoff, order per channel, one sender at a time, personal data audited before it leaves).

A DCI *channel* is a ``webhook_subscription`` row of another ``kind``:

- ``dci-callback``: a client's callback address (``header.sender_uri``), one per client and
  address. Its deliveries are prebuilt messages (``on-search``, ``txn-on-status``,
  ``on-subscribe``, ``on-unsubscribe``), queued by the request that built them, in its
  transaction: an acknowledged request always gets its callback, a rolled-back one never.
- ``dci-notify``: the channel of one DCI subscription (``service.dci.subscriptions``). The outbox
  trigger queues the family change events its client may see; the dispatcher turns each into a
  ``registry/notify`` message (``service.dci.notify``), or skips it when the family does not
  match the subscription's filter.

Each attempt is signed when it is sent, with the service's DCI key (``ServiceSigner``): the
``signature`` of the envelope covers its header and message, is created at the attempt, and
expires ``dci_signature_max_age_seconds`` later. The header's ``message_id`` stays the same on
every retry, so the receiver can drop a message it already handled.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access import Caller
from service.dci import reasons
from service.dci.reasons import DciRejection
from service.dci.signatures import ServiceSigner
from service.errors import ValidationFailed
from service.kpm.views import PII_SCOPE
from service.settings import Settings
from service.webhooks.targets import TargetPolicy, check_target_url
from service.webhooks.wakeups import wake_dispatchers

# Not among the reason codes the synchronous door needs; the spec's ``Error`` code.
SENDER_URI_INVALID = "err.sender_uri.invalid"

if TYPE_CHECKING:
    from service.webhooks.messages import Message, Unsendable
    from service.webhooks.outbox import Pending, Target

# One live callback channel per (client, address), made on first use (the unique index decides
# between two first uses at once).
_FIND_CHANNEL = text(
    """
    SELECT id FROM webhook_subscription
     WHERE client_id = :client_id AND url = :url AND kind = 'dci-callback'
       AND deleted_at IS NULL
    """
)
_MAKE_CHANNEL = text(
    """
    INSERT INTO webhook_subscription (client_id, url, kind, status, event_types)
    VALUES (:client_id, :url, 'dci-callback', 'active', '{}')
    ON CONFLICT (client_id, url) WHERE kind = 'dci-callback' AND deleted_at IS NULL
    DO NOTHING
    RETURNING id
    """
)

_QUEUE = text(
    """
    INSERT INTO webhook_delivery
           (subscription_id, body, dci_transaction_id, dci_response, txid, status,
            dci_personal)
    VALUES (:channel_id, CAST(:body AS jsonb), :dci_transaction_id,
            CAST(:dci_response AS jsonb), (pg_current_xact_id()::text)::bigint, 'pending',
            :dci_personal)
    RETURNING id
    """
)


def checked_callback_uri(uri: Any, policy: TargetPolicy) -> str:
    """``header.sender_uri`` if callbacks may go there (the webhooks' rules: https unless the
    operator allows http, a host, no credentials, no literal address that is not public; the
    address it resolves to is checked again at every attempt); else ``err.sender_uri.invalid``."""
    if not isinstance(uri, str) or not uri.strip():
        raise DciRejection(SENDER_URI_INVALID, "header.sender_uri is required for a callback.")
    if len(uri) > 2000 or any(c.isspace() or not c.isprintable() for c in uri):
        raise DciRejection(SENDER_URI_INVALID, "header.sender_uri is not a usable URL.")
    try:
        return check_target_url(uri, policy)
    except ValidationFailed as refused:
        reason = refused.errors[0].message if refused.errors else "not allowed"
        raise DciRejection(SENDER_URI_INVALID, f"header.sender_uri is refused: {reason}") from None


async def callback_channel(session: AsyncSession, caller: Caller, url: str) -> uuid.UUID:
    """The caller's channel for ``url``, made if it has none."""
    if caller.client_id is None:
        raise DciRejection(reasons.REQUEST_FORBIDDEN, "Only an API client gets callbacks.")
    names = {"client_id": caller.client_id, "url": url}
    channel: uuid.UUID | None = (await session.execute(_FIND_CHANNEL, names)).scalar_one_or_none()
    if channel is None:
        channel = (await session.execute(_MAKE_CHANNEL, names)).scalar_one_or_none()
    if channel is None:
        # Made by another transaction meanwhile, which waited for it to commit: a new
        # statement sees it.
        channel = (await session.execute(_FIND_CHANNEL, names)).scalar_one()
    return channel


async def queue_message(
    session: AsyncSession,
    channel_id: uuid.UUID,
    header: Mapping[str, Any],
    message: Mapping[str, Any] | None,
    *,
    dci_transaction_id: uuid.UUID | None = None,
    dci_response: Mapping[str, Any] | None = None,
    personal: bool = False,
) -> int:
    """Queue ``{header, message}`` on the channel, in ``session``'s transaction; the
    dispatchers are woken at commit. The message's personal data is the caller's business to
    have audited (a search audits its unmasked reads as it answers); ``personal``: it holds
    some unmasked, and is sent only while the client still holds ``pii:read``. Once it is
    delivered, the DCI transaction ``dci_transaction_id`` takes the callback's status and
    ``dci_response``; delivered or parked, the message itself is forgotten."""
    body: dict[str, Any] = {"header": dict(header)}
    if message is not None:
        body["message"] = dict(message)
    delivery_id: int = (
        await session.execute(
            _QUEUE,
            {
                "channel_id": channel_id,
                "body": json.dumps(body, ensure_ascii=False),
                "dci_transaction_id": dci_transaction_id,
                "dci_response": None if dci_response is None else json.dumps(dci_response),
                "dci_personal": personal,
            },
        )
    ).scalar_one()
    await wake_dispatchers(session)
    return delivery_id


async def queue_callback(
    session: AsyncSession,
    caller: Caller,
    url: str,
    header: Mapping[str, Any],
    message: Mapping[str, Any] | None,
    *,
    dci_transaction_id: uuid.UUID | None = None,
    dci_response: Mapping[str, Any] | None = None,
    personal: bool = False,
) -> int:
    """Queue a callback to ``url`` (already checked: ``checked_callback_uri``)."""
    channel = await callback_channel(session, caller, url)
    return await queue_message(
        session,
        channel,
        header,
        message,
        dci_transaction_id=dci_transaction_id,
        dci_response=dci_response,
        personal=personal,
    )


def prebuilt_dci_message(delivery: Pending, reader: Caller) -> Message | Unsendable:
    """A callback as it was built, unless it holds unmasked personal data its client may no
    longer read (``pii:read`` withdrawn since): then it is not sent. (A revoked client's
    channels send nothing at all.)"""
    from service.webhooks.messages import Unsendable, prebuilt_message

    if delivery.dci_personal and not reader.has(PII_SCOPE):
        return Unsendable("the client no longer holds pii:read, and the message is unmasked")
    assert delivery.body is not None, "a DCI callback delivery carries its message"
    return prebuilt_message(delivery.body)


_PRUNE_SETTLED_MESSAGES = text(
    """
    DELETE FROM webhook_delivery d
     USING webhook_subscription s
     WHERE s.id = d.subscription_id AND s.kind <> 'webhook' AND d.event_id IS NULL
       AND d.status <> 'pending' AND d.created_at < now() - make_interval(days => :days)
    """
)


async def prune_settled_messages(session: AsyncSession, *, retention_days: int) -> int:
    """Remove the DCI channels' prebuilt deliveries (callbacks) settled and older than
    ``retention_days``, with their attempts; how many went. (Deliveries of change events go
    with their events, ``service.changes.retention``.) Flushes only."""
    removed = await session.execute(_PRUNE_SETTLED_MESSAGES, {"days": retention_days})
    return int(removed.rowcount or 0)  # type: ignore[attr-defined]


def signed_dci_body(signer: ServiceSigner, body: str, *, now: dt.datetime) -> bytes:
    """The bytes of one attempt: the prebuilt ``{header, message}`` with the service's
    signature over them, made now."""
    prebuilt = json.loads(body)
    header, message = prebuilt["header"], prebuilt.get("message")
    envelope: dict[str, Any] = {
        "signature": signer.sign(header, message, now=now),
        "header": header,
    }
    if message is not None:
        envelope["message"] = message
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


async def compose_notifications(
    sessions: async_sessionmaker[AsyncSession],
    target: Target,
    due: Sequence[Pending],
    settings: Settings,
) -> list[Message | Unsendable | None]:
    """The messages of a ``dci-notify`` channel's deliveries (a prebuilt one as it is)."""
    from service.dci.notify import notifications

    return await notifications(sessions, target, due, settings)
