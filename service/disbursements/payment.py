"""A single payment in two statements and one transaction, its allocation locked for neither a
round trip nor a line of Python.

1. *Look*: one read, outside any transaction (one statement sees one snapshot): the allocation,
   the recipient's village, whether the period or the bank reference is taken, the time, and
   the client's Idempotency-Key if it has been used. The rules of ``creation._check`` decide on
   that, exactly as for a batch item, and a refusal answers at once (nothing was written).
2. *Pay*: one statement, committed on its own (no BEGIN, no COMMIT): the conditional
   ``UPDATE`` of the allocation's committed sum, and from its result the row, its history,
   its audit entry, both change events (the disbursement's and the allocation's sums) and the
   Idempotency-Key with the stored answer. Every insert reads the ``UPDATE``'s row, so they all
   happen or none does; anything that would break the rules in between makes the statement
   fail as a whole and leave nothing:

   - the room went meanwhile: the database's CHECK (``committed <= amount``) refuses the
     ``UPDATE``, answered ``allocation_exhausted`` with what is left;
   - the period or the reference was taken meanwhile: its unique index, answered
     ``duplicate_disbursement`` / ``duplicate_external_reference``;
   - a retry with the same key committed first: the key's primary key; the payment is looked
     at again and answered with the stored answer (a concurrent retry waits for the first
     request's statement on that index, so it is answered, not refused);
   - the allocation was edited (a new version) meanwhile: the ``UPDATE`` matches no row, nothing
     is written, and the payment is looked at and run again.

The allocation's row is locked by the ``UPDATE`` and released by the statement's own commit:
parallel payments queue on it for the server-side run of one statement and a commit, never for
a network round trip or an event loop's turn. It is the first lock the statement takes, as for
every other writer of an allocation (batches lock it first too), so payments and batches do not
wait for each other in a circle; should PostgreSQL still report a deadlock, the payment runs
again.

Keys in any other state (a request with that key still running, abandoned or expired) take the
general path of ``service.idempotency``, which claims, takes over and replays them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
from pydantic import BaseModel

from schemas.disbursements import DisbursementCreate
from service.access import Caller
from service.allocations.sums import RETURNED_COLUMNS
from service.allocations.tables import Allocation
from service.allocations.views import present_allocation
from service.database import OneStatement
from service.disbursements.creation import (
    _Accepted,
    _check,
    _Context,
    _exhausted,
    _journal_entry,
)
from service.disbursements.rules import Refusal
from service.idempotency.service import (
    ABANDONED_AFTER,
    LIFETIME,
    PRUNE_BATCH,
    Outcome,
    StoredResponse,
    key_reused,
)

# Runs of the two steps before the payment takes the general path (see the docstring).
_ATTEMPTS = 3
_DEADLOCK_DETECTED = "40P01"
_NO_ROOM = "ck_budget_allocation_committed_within_amount"
_TAKEN = {
    "uq_disbursement_once_per_period": Refusal(
        "duplicate_disbursement",
        "period",
        "The recipient already has a disbursement of this program for that period.",
    ),
    "uq_disbursement_external_reference": Refusal(
        "duplicate_external_reference",
        "external_reference",
        "Another disbursement has that reference.",
    ),
}
_KEY_TAKEN = "pk_idempotency_key"

# Where a recipient of each kind lives (a dissolved KUBE group no longer has an account).
_RECIPIENTS = {
    "kpm": "SELECT village_code FROM kpm_family WHERE id = $2 AND archived_at IS NULL",
    "kube": "SELECT village_code FROM kube_group WHERE id = $2 AND status <> 'dissolved'",
}


def _look_sql(kind: str) -> str:
    return (
        f"SELECT now() AS written_at, ({_RECIPIENTS[kind]}) AS recipient_region,"
        " EXISTS (SELECT FROM disbursement d WHERE d.recipient_id = $2"
        " AND d.recipient_kind = $3 AND d.program_code = a.program_code AND d.period = $4"
        " AND d.status NOT IN ('failed', 'reversed')) AS period_taken,"
        " EXISTS (SELECT FROM disbursement d WHERE d.external_reference = $5)"
        " AS reference_taken,"
        " k.status AS key_status, k.request_hash AS key_hash,"
        " k.expires_at <= now() AS key_expired,"
        " k.response_status AS key_response_status, k.response_body::text AS key_response,"
        f" a.id IS NOT NULL AS found, {RETURNED_COLUMNS}, a.amount - a.committed AS remaining"
        " FROM (SELECT) AS one"
        " LEFT JOIN budget_allocation a ON a.id = $1"
        " LEFT JOIN idempotency_key k ON k.client_id = $6 AND k.key = $7"
    )


_LOOK = {kind: _look_sql(kind) for kind in _RECIPIENTS}

# The sums as the UPDATE left them, patched into the allocation as the look read it: with the
# same version nothing else of it can have changed (an office's edit takes the next one).
_PAY = (
    "WITH charged AS (UPDATE budget_allocation a SET committed = a.committed + $2"
    " WHERE a.id = $1 AND a.version = $3"
    " RETURNING a.id, a.version, a.region_code, a.amount, a.committed, a.confirmed),"
    # The key before the row: a retry that waited for the first request finds its key taken
    # (and replays its answer), not its period.
    " claimed AS (INSERT INTO idempotency_key (client_id, key, request_hash, status,"
    " claim_token, response_status, response_body, claimed_at, expires_at)"
    " SELECT $21, $22, $23, 'done', gen_random_uuid(), 201, $19::jsonb, now(),"
    " now() + $24::interval FROM charged RETURNING 1),"
    " paid AS (INSERT INTO disbursement (id, created_at, updated_at, allocation_id,"
    " program_code, recipient_kind, recipient_id, region_code, amount, purpose, channel, period,"
    " status, external_reference)"
    " SELECT $4, $5, $5, id, $6, $7, $8, $9, $2, $10, $11, $12, 'scheduled', $13"
    " FROM charged, claimed RETURNING id),"
    " step AS (INSERT INTO disbursement_transition (disbursement_id, to_status, by_client,"
    " actor, request_id) SELECT id, 'scheduled', $14, $15, $16 FROM paid),"
    " audited AS (INSERT INTO audit_entry (client_id, actor, action, entity, record_id,"
    " region_code, changes, request_id)"
    " SELECT $14, $15, 'create', 'disbursement', id::text, $9, $17::jsonb, $16 FROM paid),"
    " published AS (INSERT INTO change_event (entity, record_id, action, region_code, version,"
    " changed_fields, client_id, payload)"
    " SELECT 'disbursement', id::text, 'create', $9, 1, $18::text[], $14, $19::jsonb FROM paid"
    " UNION ALL SELECT 'allocation', c.id::text, 'update', c.region_code, c.version,"
    " ARRAY['committed'], $14, $20::jsonb || jsonb_build_object('committed', c.committed,"
    " 'confirmed', c.confirmed, 'remaining', c.amount - c.committed) FROM charged c),"
    " pruned AS (DELETE FROM idempotency_key WHERE (client_id, key) IN ("
    " SELECT client_id, key FROM idempotency_key WHERE expires_at < now() - $25::interval"
    " ORDER BY expires_at LIMIT $26 FOR UPDATE SKIP LOCKED))"
    " SELECT count(*) FROM paid"
)

Fallback = Callable[[], Awaitable[Outcome]]


async def pay_once(
    statements: OneStatement,
    caller: Caller,
    client_id: uuid.UUID,
    key: str,
    fingerprint: str,
    item: DisbursementCreate,
    fallback: Fallback,
) -> Outcome:
    """One payment at most once per (client, key), as the module docstring says; ``fallback``
    runs it on the general path of ``service.idempotency``."""
    for _ in range(_ATTEMPTS):
        try:
            # One pooled connection for both statements; each commits on its own.
            async with statements() as connection:
                look = await connection.fetchrow(
                    _LOOK[item.recipient_kind.value],
                    item.allocation_id,
                    item.recipient_id,
                    item.recipient_kind.value,
                    item.period,
                    item.external_reference,
                    client_id,
                    key,
                )
                assert look is not None
                if look["key_status"] is not None:
                    replay = _known_key(look, fingerprint)
                    if replay is None:
                        break
                    return replay
                accepted, written_at = _checked(caller, item, look)
                write = _journal_entry(accepted, written_at)
                assert isinstance(write.payload, BaseModel)
                body = write.payload.model_dump(mode="json")
                paid = await connection.fetchval(
                    _PAY,
                    *_pay_arguments(caller, accepted, written_at, write.changes or {}, look),
                    json.dumps(body),
                    json.dumps(_allocation_payload(look)),
                    client_id,
                    key,
                    fingerprint,
                    LIFETIME,
                    ABANDONED_AFTER,
                    PRUNE_BATCH,
                )
        except asyncpg.IntegrityConstraintViolationError as error:
            name = getattr(error, "constraint_name", None)
            if name == _NO_ROOM:
                async with statements() as connection:
                    remaining: int = await connection.fetchval(
                        "SELECT amount - committed FROM budget_allocation WHERE id = $1",
                        item.allocation_id,
                    )
                raise _exhausted(remaining).as_error() from None
            if name in _TAKEN:
                raise _TAKEN[name].as_error() from None
            if name == _KEY_TAKEN:
                continue  # a retry committed first: its answer is looked up again
            raise
        except asyncpg.PostgresError as error:
            if getattr(error, "sqlstate", None) == _DEADLOCK_DETECTED:
                continue
            raise
        if paid:
            return Outcome(StoredResponse(201, body), replayed=False)
        # The allocation was edited meanwhile: look again.
    return await fallback()


def _known_key(look: asyncpg.Record, fingerprint: str) -> Outcome | None:
    """The answer to a key used before, when it is a plain replay or reuse; None when the
    general path must decide (still running, abandoned, expired)."""
    if look["key_expired"]:
        return None
    if look["key_hash"] != fingerprint:
        raise key_reused()
    if look["key_status"] != "done":
        return None
    body = json.loads(look["key_response"]) if look["key_response"] is not None else {}
    return Outcome(StoredResponse(look["key_response_status"] or 200, body), replayed=True)


def _checked(
    caller: Caller, item: DisbursementCreate, look: asyncpg.Record
) -> tuple[_Accepted, dt.datetime]:
    """The item through the rules of a batch item; raises the refusal."""
    kind = item.recipient_kind.value
    allocation = look if look["found"] else None
    program = look["program_code"]
    context = _Context(
        allocations={item.allocation_id: look} if allocation is not None else {},
        recipients={}
        if look["recipient_region"] is None
        else {(kind, item.recipient_id): look["recipient_region"]},
        remaining={item.allocation_id: look["remaining"]} if allocation is not None else {},
        taken_periods={(item.recipient_id, kind, program, item.period)}
        if look["period_taken"] and item.period is not None
        else set(),
        taken_references={item.external_reference}
        if look["reference_taken"] and item.external_reference is not None
        else set(),
        written_at=look["written_at"],
    )
    refusal = _check(caller, item, context)
    if refusal is not None:
        raise refusal.as_error()
    accepted = _Accepted(0, item, uuid.uuid4(), program, look["recipient_region"])
    return accepted, look["written_at"]


def _pay_arguments(
    caller: Caller,
    accepted: _Accepted,
    written_at: dt.datetime,
    changes: dict[str, list[Any]],
    look: asyncpg.Record,
) -> tuple[Any, ...]:
    """``_PAY``'s $1 to $18."""
    item = accepted.item
    return (
        item.allocation_id,
        item.amount,
        look["version"],
        accepted.disbursement_id,
        written_at,
        accepted.program_code,
        item.recipient_kind.value,
        item.recipient_id,
        accepted.region_code,
        item.purpose,
        item.channel.value,
        item.period,
        item.external_reference,
        caller.client_id,
        caller.name,
        caller.request_id,
        json.dumps(changes, default=str),
        sorted(changes),
    )


def _allocation_payload(look: asyncpg.Record) -> dict[str, Any]:
    """The allocation as the look read it, as its change event carries it."""
    allocation = SimpleNamespace(**{name: look[name] for name in Allocation.model_fields})
    return present_allocation(cast(Allocation, allocation)).model_dump(mode="json")
