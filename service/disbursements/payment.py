"""A single payment in two statements, neither in a transaction of its own making (each commits
by itself), its allocation locked for neither a round trip nor a line of Python.

1. *Look*: one read (one statement sees one snapshot): the allocation, the recipient's village,
   whether the period or the bank reference is taken, and the client's Idempotency-Key if it has
   been used; on the way it prunes a few long-expired keys (never under the allocation's lock).
   The rules of ``creation.check_item`` decide on that, exactly as for a batch item, and a
   refusal answers at once (nothing was written).
2. *Pay*: one statement: the conditional ``UPDATE`` of the allocation's committed sum, and from
   its result the row, its history, its audit entry, both change events (the disbursement's and
   the allocation's sums) and the Idempotency-Key with the stored answer, all at the statement's
   one ``now()``; the answer is what the key stores, as the statement returns it. Every insert
   reads the ``UPDATE``'s row, so they all happen or none does. Anything that changed since the
   look makes the statement fail as a whole, leave nothing, and the payment look again (at most
   ``_ATTEMPTS`` runs), so it is answered as the newer state says:

   - the room went, the period or the reference was taken (the CHECK ``committed <= amount``,
     the unique indexes), or a request with the same key committed first (the key's primary
     key): the next look finds the key (a replay of the first answer, or 422
     ``idempotency_key_reused`` for another body) or refuses the payment with the rules'
     message. A retry that waited behind its first request is thus never refused for the
     payment that first request made;
   - the allocation was edited (a new version): the ``UPDATE`` matches no row, nothing is
     written;
   - PostgreSQL reported a deadlock.

   The statement waits at most ``LOCK_WAIT`` for a lock (``lock_timeout``, set for the
   statement by the statement itself, so it costs no round trip): a payment queued behind a
   batch, or a retry queued behind its first request still running, gives its pooled
   connection back and takes the general path of ``service.idempotency``. There the first of
   them to claim the key does the payment (waiting for the allocation as any payment of that
   path does) and a request with the same key meanwhile gets 409 ``idempotency_in_progress``,
   as before. A lock timeout rolls the whole statement back, so nothing is paid twice.

The allocation's row is the first lock the statement takes, as for every other writer of an
allocation (batches lock it first too), and it is released by the statement's own commit:
parallel payments queue on it for the server-side run of one statement and a commit.

Keys in any other state (a request with that key still running, abandoned or expired) take the
general path too, which claims, takes over and replays them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

import asyncpg

from schemas.disbursements import DisbursementCreate
from service.access import Caller
from service.allocations.sums import ENTITY as ALLOCATION
from service.allocations.sums import RETURNED_COLUMNS
from service.allocations.tables import Allocation
from service.allocations.views import present_allocation
from service.database import OneStatement
from service.disbursements.creation import (
    CHANGED_FIELDS_SQL,
    CHANGES_SQL,
    Accepted,
    CheckContext,
    check_item,
    json_time,
    record_json,
)
from service.disbursements.rules import ENTITY as DISBURSEMENT
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
# How long the pay statement waits for a lock (the allocation's row, a key or a period another
# request is writing) before the payment takes the general path.
LOCK_WAIT = "1s"
_DEADLOCK_DETECTED = "40P01"
# The constraints a payment can meet when something changed since its look.
_CHANGED_MEANWHILE = {
    "ck_budget_allocation_committed_within_amount",
    "uq_disbursement_once_per_period",
    "uq_disbursement_external_reference",
    "pk_idempotency_key",
}

# Where a recipient of each kind lives (a dissolved KUBE group no longer has an account).
_RECIPIENTS = {
    "kpm": "SELECT village_code FROM kpm_family WHERE id = $2 AND archived_at IS NULL",
    "kube": "SELECT village_code FROM kube_group WHERE id = $2 AND status <> 'dissolved'",
}


def _look_sql(kind: str) -> str:
    return (
        "WITH pruned AS (DELETE FROM idempotency_key WHERE (client_id, key) IN ("
        " SELECT client_id, key FROM idempotency_key WHERE expires_at < now() - $8::interval"
        " ORDER BY expires_at LIMIT $9 FOR UPDATE SKIP LOCKED))"
        f" SELECT now() AS looked_at, ({_RECIPIENTS[kind]}) AS recipient_region,"
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


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with its ``:name`` parameters as asyncpg's ``$n``, and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<![:\w]):([a-z_]+)", number, sql), tuple(names)


# The sums as the UPDATE left them, patched into the allocation as the look read it: with the
# same version nothing else of it can have changed (an office's edit takes the next one). The
# first CTE bounds the statement's lock waits before the UPDATE can wait.
_PAY, _PAY_PARAMETERS = _numbered(
    "WITH bounded AS (SELECT set_config('lock_timeout', :lock_wait, true)),"
    " charged AS (UPDATE budget_allocation a SET committed = a.committed + :amount"
    " FROM bounded WHERE a.id = :allocation_id AND a.version = :version"
    " RETURNING a.id, a.version, a.region_code, a.amount, a.committed, a.confirmed),"
    " paid AS (INSERT INTO disbursement (id, created_at, updated_at, allocation_id,"
    " program_code, recipient_kind, recipient_id, region_code, amount, purpose, channel, period,"
    " status, external_reference)"
    " SELECT :disbursement_id, now(), now(), c.id, :program_code, :recipient_kind,"
    " :recipient_id, :region_code, :amount, :purpose, :channel, :period, 'scheduled',"
    " :external_reference FROM charged c RETURNING *),"
    " claimed AS (INSERT INTO idempotency_key (client_id, key, request_hash, status,"
    " claim_token, response_status, response_body, claimed_at, expires_at)"
    " SELECT :key_owner, :key, :fingerprint, 'done', gen_random_uuid(), 201,"
    f" {record_json(json_time('d.created_at'))}, now(), now() + :lifetime::interval"
    " FROM paid d RETURNING response_body),"
    " step AS (INSERT INTO disbursement_transition (disbursement_id, to_status, by_client,"
    " actor, request_id) SELECT d.id, d.status, :client_id, :actor, :request_id FROM paid d),"
    " audited AS (INSERT INTO audit_entry (client_id, actor, action, entity, record_id,"
    f" region_code, changes, request_id) SELECT :client_id, :actor, 'create', '{DISBURSEMENT}',"
    f" d.id::text, d.region_code, {CHANGES_SQL}, :request_id FROM paid d),"
    " published AS (INSERT INTO change_event (entity, record_id, action, region_code, version,"
    f" changed_fields, client_id, payload) SELECT '{DISBURSEMENT}', d.id::text, 'create',"
    f" d.region_code, d.version, {CHANGED_FIELDS_SQL}, :client_id, k.response_body"
    f" FROM paid d, claimed k UNION ALL SELECT '{ALLOCATION}', c.id::text, 'update',"
    " c.region_code, c.version, ARRAY['committed'], :client_id,"
    " :allocation::jsonb || jsonb_build_object('committed', c.committed,"
    " 'confirmed', c.confirmed, 'remaining', c.amount - c.committed) FROM charged c)"
    " SELECT response_body::text FROM claimed"
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
                    ABANDONED_AFTER,
                    PRUNE_BATCH,
                )
                assert look is not None
                if look["key_status"] is not None:
                    replay = _known_key(look, fingerprint)
                    if replay is None:
                        break
                    return replay
                accepted = _checked(caller, item, look)
                answer = await connection.fetchval(
                    _PAY,
                    *_arguments(
                        _PAY_PARAMETERS,
                        _pay_values(caller, accepted, look)
                        | {
                            "key_owner": client_id,
                            "key": key,
                            "fingerprint": fingerprint,
                            "lifetime": LIFETIME,
                            "lock_wait": LOCK_WAIT,
                        },
                    ),
                )
        except asyncpg.IntegrityConstraintViolationError as error:
            if getattr(error, "constraint_name", None) in _CHANGED_MEANWHILE:
                continue  # the next look sees what changed, and answers by it
            raise
        except asyncpg.LockNotAvailableError:
            break  # waited LOCK_WAIT: the general path decides
        except asyncpg.PostgresError as error:
            if getattr(error, "sqlstate", None) == _DEADLOCK_DETECTED:
                continue
            raise
        if answer is not None:
            return Outcome(StoredResponse(201, json.loads(answer)), replayed=False)
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


def _checked(caller: Caller, item: DisbursementCreate, look: asyncpg.Record) -> Accepted:
    """The item through the rules of a batch item; raises the refusal."""
    kind = item.recipient_kind.value
    allocation = look if look["found"] else None
    program = look["program_code"]
    context = CheckContext(
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
        written_at=look["looked_at"],
    )
    refusal = check_item(caller, item, context)
    if refusal is not None:
        raise refusal.as_error()
    return Accepted(0, item, uuid.uuid4(), program, look["recipient_region"])


def _pay_values(caller: Caller, accepted: Accepted, look: asyncpg.Record) -> dict[str, Any]:
    """``_PAY``'s parameters that the payment itself decides."""
    item = accepted.item
    return {
        "allocation_id": item.allocation_id,
        "amount": item.amount,
        "version": look["version"],
        "disbursement_id": accepted.disbursement_id,
        "program_code": accepted.program_code,
        "recipient_kind": item.recipient_kind.value,
        "recipient_id": item.recipient_id,
        "region_code": accepted.region_code,
        "purpose": item.purpose,
        "channel": item.channel.value,
        "period": item.period,
        "external_reference": item.external_reference,
        "client_id": caller.client_id,
        "actor": caller.name,
        "request_id": caller.request_id,
        "allocation": json.dumps(_allocation_payload(look)),
    }


def _arguments(names: Sequence[str], values: Mapping[str, Any]) -> list[Any]:
    """The values in the statement's order; every name given, none left over."""
    if set(values) != set(names):
        raise ValueError(f"parameters differ: {sorted(set(values) ^ set(names))}")
    return [values[name] for name in names]


def _allocation_payload(look: asyncpg.Record) -> dict[str, Any]:
    """The allocation as the look read it, as its change event carries it."""
    allocation = SimpleNamespace(**{name: look[name] for name in Allocation.model_fields})
    return present_allocation(cast(Allocation, allocation)).model_dump(mode="json")
