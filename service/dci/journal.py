"""The journal of DCI messages received: one ``dci_transaction`` row per message, which is how a
replayed ``message_id`` is told apart (the unique (client, sender_id, message_id), so two copies
racing each other cannot both pass), and what ``txn/status`` answers from."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller
from service.dci import reasons
from service.dci.envelopes import (
    REQUEST_LISTS,
    STATUSES,
    RequestEnvelope,
    timestamp,
    transaction_id_of,
)
from service.dci.reasons import DciRejection
from service.dci.tables import DciTransaction

__all__ = [
    "DciTransaction",
    "finish",
    "new_correlation_id",
    "record_answered",
    "record_message",
    "transaction_status",
    "without_records",
]

_UNIQUE_MESSAGE = "uq_dci_transaction_client_id"
TXN_TYPES = ("search", "subscribe", "receipt")
ATTRIBUTE_TYPES = ("transaction_id", "reference_id_list", "correlation_id")


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def reference_ids(envelope: RequestEnvelope) -> list[str]:
    """The ``reference_id``s of the message's requests (search_request, subscribe_request)."""
    items = envelope.message.get(REQUEST_LISTS.get(str(envelope.header.get("action")), ""))
    if not isinstance(items, list):
        return []
    return [
        str(item["reference_id"])
        for item in items
        if isinstance(item, Mapping) and isinstance(item.get("reference_id"), str | int)
    ]


def _transaction_id(envelope: RequestEnvelope) -> str | None:
    value = envelope.message.get("transaction_id")
    return str(value)[:99] if isinstance(value, str | int) else None


def _duplicate() -> DciRejection:
    return DciRejection(
        reasons.MESSAGE_ID_DUPLICATE, "This sender sent a message with this message_id before."
    )


async def record_message(
    session: AsyncSession,
    caller: Caller,
    envelope: RequestEnvelope,
    *,
    status: str = "rcvd",
    correlation_id: str | None = None,
) -> DciTransaction:
    """Journal a message as received (``rcvd``, or ``status``), with a new correlation id of
    ours; a message_id the sender used before raises ``rjct.message_id.duplicate``."""
    return await _insert(session, caller, envelope, status, correlation_id, None)


async def record_answered(
    session: AsyncSession,
    caller: Caller,
    envelope: RequestEnvelope,
    *,
    correlation_id: str,
    status: str,
    response: dict[str, Any],
) -> DciTransaction:
    """``record_message`` and ``finish`` in one statement, for a message answered at once (the
    synchronous doors): run after the answer is built, in the same transaction, so a replay
    still rolls back everything the answer did (its audit entries included)."""
    return await _insert(session, caller, envelope, status, correlation_id, response)


async def _insert(
    session: AsyncSession,
    caller: Caller,
    envelope: RequestEnvelope,
    status: str,
    correlation_id: str | None,
    response: dict[str, Any] | None,
) -> DciTransaction:
    if status not in STATUSES:
        raise ValueError(f"status {status!r}")
    if caller.client_id is None:
        raise DciRejection(reasons.REQUEST_UNAUTHORIZED, "DCI messages come from API clients.")
    row: DciTransaction | None = await session.scalar(
        insert(DciTransaction)
        .values(
            id=uuid.uuid4(),
            client_id=caller.client_id,
            sender_id=envelope.sender_id,
            message_id=envelope.message_id,
            transaction_id=_transaction_id(envelope),
            action=str(envelope.header.get("action")),
            correlation_id=correlation_id or new_correlation_id(),
            status=status,
            reference_ids=reference_ids(envelope),
            response=response,
        )
        .on_conflict_do_nothing(constraint=_UNIQUE_MESSAGE)
        .returning(DciTransaction)
    )
    if row is None:
        raise _duplicate()
    return row


async def finish(
    session: AsyncSession, txn: DciTransaction, *, status: str, response: dict[str, Any]
) -> None:
    """The transaction's outcome: its status and the message answered or called back."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r}")
    await session.execute(
        update(DciTransaction)
        .where(col(DciTransaction.id) == txn.id)
        .values(status=status, response=response, updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    txn.status, txn.response = status, response


def without_records(response: Mapping[str, Any]) -> dict[str, Any]:
    """A search answer as the journal keeps it: each request's status, reason and page counts,
    not its records. The journal holds no copy of personal data, and a transaction status
    hands out no record that a search did not (audited) hand out: ask again for those."""
    return {
        **response,
        "search_response": [
            {name: value for name, value in item.items() if name != "data"}
            for item in response.get("search_response", ())
            if isinstance(item, Mapping)
        ],
    }


# --- txn/status ------------------------------------------------------------------------------


async def transaction_status(
    session: AsyncSession,
    caller: Caller,
    request_message: Mapping[str, Any],
    *,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """The ``TxnStatusResponse`` message for a ``TxnStatusRequest``: the caller's own earlier
    transactions of ``txn_type``, found by ``transaction_id``, ``correlation_id`` or a list of
    ``reference_id``s, as the status of each of their requests (for a search, the answer kept
    for it, records included, as it was given). Another client's transactions are never
    found. Nothing found: an empty ``search_response``."""
    caller.require("kpm:read")
    transaction_id = transaction_id_of(request_message)
    request = request_message.get("txnstatus_request")
    if not isinstance(request, Mapping):
        raise DciRejection("", "message.txnstatus_request must be an object.")
    txn_type, attribute = request.get("txn_type"), request.get("attribute_type")
    value = request.get("attribute_value")
    if txn_type not in TXN_TYPES:
        raise DciRejection("", f"txn_type is one of {', '.join(TXN_TYPES)}.")
    condition: ColumnElement[bool]
    wanted: set[str] | None = None
    if attribute == "transaction_id" and isinstance(value, str):
        condition = col(DciTransaction.transaction_id) == value
    elif attribute == "correlation_id" and isinstance(value, str):
        condition = col(DciTransaction.correlation_id) == value
    elif (
        attribute == "reference_id_list"
        and isinstance(value, list)
        and value
        and all(isinstance(item, str) for item in value)
    ):
        wanted = set(value)
        columns = DciTransaction.__table__.c  # type: ignore[attr-defined]
        condition = columns.reference_ids.overlap(sorted(wanted))
    else:
        raise DciRejection(
            "",
            "attribute_type is transaction_id or correlation_id (with a text value) or "
            "reference_id_list (with a list of texts).",
        )
    found = list(
        await session.scalars(
            select(DciTransaction)
            .where(
                col(DciTransaction.client_id) == caller.client_id,
                col(DciTransaction.action) == txn_type,
                condition,
            )
            # The latest 100, oldest first (a later one wins for a reused reference id).
            .order_by(col(DciTransaction.created_at).desc(), col(DciTransaction.id).desc())
            .limit(100)
        )
    )
    found.reverse()
    latest = found[-1] if found else None
    status = {
        "transaction_id": (latest.transaction_id if latest else None) or transaction_id,
        "correlation_id": latest.correlation_id if latest else "",
        "search_response": _request_statuses(found, wanted),
    }
    return {
        "transaction_id": transaction_id,
        "correlation_id": correlation_id or (latest.correlation_id if latest else ""),
        "txnstatus_response": {"txn_type": txn_type, "txn_status": status},
    }


def _reason_of(response: Mapping[str, Any]) -> str | None:
    """Why a transaction with no answer kept was refused: its callback never delivered, or its
    header refused."""
    undelivered, refused = response.get("undelivered"), response.get("refused")
    if isinstance(undelivered, str):
        return undelivered
    if isinstance(refused, Mapping) and isinstance(refused.get("message"), str):
        return str(refused["message"])
    return None


def _request_statuses(
    transactions: Sequence[DciTransaction], wanted: set[str] | None
) -> list[dict[str, Any]]:
    """One item per request of ``transactions`` (the later one wins for a reused reference id):
    a search's kept answer item, or the request's status."""
    items: dict[str, dict[str, Any]] = {}
    for txn in transactions:
        kept: dict[str, dict[str, Any]] = {}
        if txn.response and txn.action == "search":
            kept = {
                str(item.get("reference_id")): dict(item)
                for item in txn.response.get("search_response", ())
                if isinstance(item, Mapping)
            }
        elif txn.response:
            for entries in txn.response.values():
                if isinstance(entries, list):
                    for item in entries:
                        if isinstance(item, Mapping) and "reference_id" in item:
                            kept[str(item["reference_id"])] = {
                                "reference_id": str(item["reference_id"]),
                                "timestamp": item.get("timestamp") or timestamp(txn.updated_at),
                                "status": item.get("status", txn.status),
                            }
        for reference in txn.reference_ids:
            if wanted is not None and reference not in wanted:
                continue
            items[reference] = kept.get(reference) or {
                "reference_id": reference,
                "timestamp": timestamp(txn.updated_at),
                "status": txn.status,
            }
            reason = _reason_of(txn.response or {})
            if reason and reference not in kept:
                items[reference]["status_reason_message"] = reason[:999]
    return list(items.values())
