"""DCI envelopes: ``{signature, header, message}``. The request header is checked here (what the
spec's ``MsgHeader_V1.0.0`` says, and what this registry accepts), and the answer's header
(``MsgCallbackHeader_V1.0.0``) is built here, for the synchronous answers and the callbacks."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.dci import reasons
from service.dci.reasons import DciRejection

VERSION = "1.0.0"
# How far in the future a sender's clock may put ``message_ts``.
CLOCK_LEEWAY = dt.timedelta(minutes=5)
# Requests of one message (search_request items, subscribe_request items) at most.
MAX_REQUESTS = 100
# Where each action keeps its batch of requests, so ``total_count`` can be held to it.
REQUEST_LISTS = {"search": "search_request", "subscribe": "subscribe_request"}
# The actions of the spec's registry paths (and callbacks), for telling an action sent to the
# wrong path (invalid here) from one this registry does not know (not supported).
KNOWN_ACTIONS = frozenset(
    {
        "search",
        "on-search",
        "subscribe",
        "on-subscribe",
        "unsubscribe",
        "on-unsubscribe",
        "notify",
        "txn-status",
        "txn-on-status",
    }
)
STATUSES = ("rcvd", "pdng", "succ", "rjct")
# The deepest nesting of objects and lists an envelope may hold: a real message nests a dozen
# levels; deeper is refused before anything walks it recursively (signatures, queries).
MAX_DEPTH = 32
_ID_LENGTH = 99


@dataclass(frozen=True)
class RequestEnvelope:
    signature: str | None
    header: dict[str, Any]
    message: dict[str, Any]

    @property
    def sender_id(self) -> str:
        return str(self.header["sender_id"])

    @property
    def message_id(self) -> str:
        return str(self.header["message_id"])


def read_envelope(
    body: Any, *, action: str, now: dt.datetime, registry_id: str | None = None
) -> RequestEnvelope:
    """``body`` as a request envelope for ``action``, or a ``DciRejection``: a ``rjct`` with the
    header's reason code (version, message_ts, action, total_count), no code for a body that is
    no envelope at all (the spec has none), and the ``err`` codes for a message meant for another
    registry (``receiver_id``, when sent, must be ours) or an encrypted one (not supported)."""
    if not isinstance(body, Mapping):
        raise DciRejection("", "The body is not a DCI envelope {signature, header, message}.")
    if nesting_depth(body) > MAX_DEPTH:
        raise DciRejection(
            reasons.REQUEST_BAD, f"The envelope nests deeper than {MAX_DEPTH} levels."
        )
    header, message, signature = body.get("header"), body.get("message"), body.get("signature")
    if not isinstance(header, Mapping):
        raise DciRejection("", "The envelope has no header object.")
    for name in ("message_id", "sender_id"):
        value = header.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > _ID_LENGTH:
            raise DciRejection("", f"header.{name} must be a text of 1 to {_ID_LENGTH} characters.")
    if header.get("version", VERSION) != VERSION:
        raise DciRejection(reasons.VERSION_INVALID, f"Only version {VERSION} is served.")
    sent_at = parse_timestamp(header.get("message_ts"))
    if sent_at is None:
        raise DciRejection(
            reasons.MESSAGE_TS_INVALID, "header.message_ts must be an RFC 3339 date-time."
        )
    if sent_at > now + CLOCK_LEEWAY:
        raise DciRejection(reasons.MESSAGE_TS_INVALID, "header.message_ts lies in the future.")
    sent_action = header.get("action")
    if sent_action != action:
        if isinstance(sent_action, str) and sent_action not in KNOWN_ACTIONS:
            raise DciRejection(
                reasons.ACTION_NOT_SUPPORTED, "This registry does not serve that action here."
            )
        raise DciRejection(reasons.ACTION_INVALID, f"This endpoint takes action '{action}'.")
    if registry_id is None:
        from service.settings import get_settings

        registry_id = get_settings().dci_registry_id
    receiver = header.get("receiver_id")
    if receiver is not None and receiver != registry_id:
        raise DciRejection(reasons.RECEIVER_ID_INVALID, "header.receiver_id is not this registry.")
    encrypted = header.get("is_msg_encrypted", False)
    if encrypted is True:
        raise DciRejection(
            reasons.ENCRYPTION_INVALID, "Encrypted messages are not supported by this registry."
        )
    if not isinstance(encrypted, bool):
        raise DciRejection("", "header.is_msg_encrypted must be true or false.")
    if not isinstance(message, Mapping):
        raise DciRejection("", "The envelope has no message object.")
    if signature is not None and not isinstance(signature, str):
        raise DciRejection(reasons.SIGNATURE_INVALID, "The signature must be a text.")
    _check_total_count(header.get("total_count"), message, action)
    return RequestEnvelope(signature=signature, header=dict(header), message=dict(message))


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep objects and lists nest in ``value`` (a scalar: 0), counted without recursion
    and no further than one level past ``limit``."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest


def transaction_id_of(message: Mapping[str, Any]) -> str:
    """``message.transaction_id``: a text or whole number of 1 to 99 characters, else the
    message is refused (the spec's ``TransactionId``)."""
    value = message.get("transaction_id")
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.strip() or len(text) > _ID_LENGTH:
        raise DciRejection(
            "", f"message.transaction_id must be a text of 1 to {_ID_LENGTH} characters."
        )
    return text


def _check_total_count(total: Any, message: Mapping[str, Any], action: str) -> None:
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise DciRejection(
            reasons.TOTAL_COUNT_INVALID, "header.total_count must be a whole number."
        )
    items = message.get(REQUEST_LISTS.get(action, ""))
    if isinstance(items, list):
        if len(items) > MAX_REQUESTS:
            raise DciRejection(
                reasons.TOTAL_COUNT_LIMIT_EXCEEDED,
                f"At most {MAX_REQUESTS} requests in one message.",
            )
        if total != len(items):
            raise DciRejection(
                reasons.TOTAL_COUNT_INVALID,
                "header.total_count must be the number of requests in the message.",
            )


def parse_timestamp(value: Any) -> dt.datetime | None:
    """An RFC 3339 date-time with its offset (``Z`` or ``+07:00``), or ``None``."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        parsed.astimezone(dt.UTC)  # in UTC still within years 1 to 9999 (what PostgreSQL holds)
    except OverflowError:
        return None
    return parsed


def timestamp(moment: dt.datetime | None = None) -> str:
    """A DCI timestamp: UTC, RFC 3339 with ``Z``."""
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def callback_header(
    request_header: Mapping[str, Any] | None,
    *,
    action: str,
    status: str,
    registry_id: str,
    total_count: int,
    completed_count: int,
    reason_code: str | None = None,
    reason_message: str | None = None,
) -> dict[str, Any]:
    """A ``MsgCallbackHeader_V1.0.0`` from this registry: a new ``message_id``, now as
    ``message_ts``, addressed to the request's sender. ``reason_code`` goes in the header
    only when it is one of the header's codes; the message is kept to the spec's 999
    characters."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r}")
    header: dict[str, Any] = {
        "version": VERSION,
        "message_id": str(uuid.uuid4()),
        "message_ts": timestamp(),
        "action": action,
        "status": status,
        "total_count": total_count,
        "completed_count": completed_count,
        "sender_id": registry_id,
        "is_msg_encrypted": False,
    }
    sender = (request_header or {}).get("sender_id")
    if isinstance(sender, str):
        header["receiver_id"] = sender
    if reason_code and reason_code in reasons.HEADER_CODES:
        header["status_reason_code"] = reason_code
    if reason_message:
        header["status_reason_message"] = reason_message[:999]
    return header
