"""Status moves: one by request, or many from a reconciliation file, through the same writer.

A move changes the disbursement's status (and version), the allocation's running sums (a failed
or reversed payment frees its budget; a confirmed one counts as paid), and appends the history,
the audit entry and the change event, all in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.disbursements import TransitionRequest
from service.access import Caller, ensure_writable
from service.allocations.sums import RETURNED_COLUMNS, sums_changed
from service.allocations.tables import Allocation
from service.database import driver_connection
from service.disbursements.history import Step, record_steps
from service.disbursements.queries import find_disbursement
from service.disbursements.rules import (
    ENTITY,
    WRITE_SCOPE,
    invalid_transition,
    may_move,
    money_effect,
)
from service.disbursements.tables import Disbursement
from service.errors import Conflict, FieldError
from service.journal import Write, record_writes


@dataclass(frozen=True)
class Move:
    disbursement_id: uuid.UUID
    allocation_id: uuid.UUID
    region_code: str
    amount: int
    from_status: str
    to_status: str
    note: str | None
    external_reference: str | None = None  # a reference to set; None keeps the current one
    on_date: dt.date | None = None


async def apply_moves(session: AsyncSession, caller: Caller, moves: Sequence[Move]) -> None:
    """Write checked moves. The caller has locked the disbursements (``FOR UPDATE``) and checked
    each move with ``may_move``."""
    if not moves:
        return
    connection = await driver_connection(session)
    committed: dict[uuid.UUID, int] = defaultdict(int)
    confirmed: dict[uuid.UUID, int] = defaultdict(int)
    for move in moves:
        extra_committed, extra_confirmed = money_effect(
            move.from_status, move.to_status, move.amount
        )
        committed[move.allocation_id] += extra_committed
        confirmed[move.allocation_id] += extra_confirmed
    versions = {
        row["id"]: row["version"]
        for row in await connection.fetch(
            "UPDATE disbursement d SET status = m.to_status,"
            " external_reference = coalesce(m.external_reference, d.external_reference),"
            " version = d.version + 1, updated_at = now()"
            " FROM unnest($1::uuid[], $2::text[], $3::text[])"
            " AS m(id, to_status, external_reference)"
            " WHERE d.id = m.id RETURNING d.id, d.version",
            [move.disbursement_id for move in moves],
            [move.to_status for move in moves],
            [move.external_reference for move in moves],
        )
    }
    budget_changes = await _update_sums(connection, committed, confirmed)
    await record_steps(
        session,
        caller,
        [
            Step(
                move.disbursement_id,
                move.from_status,
                move.to_status,
                move.note,
                move.external_reference,
                move.on_date,
            )
            for move in moves
        ],
    )
    await record_writes(
        session,
        caller,
        [
            Write(
                action="transition",
                entity=ENTITY,
                record_id=move.disbursement_id,
                region_code=move.region_code,
                version=versions[move.disbursement_id],
                changes=_changes(move),
            )
            for move in moves
        ]
        + budget_changes,
    )


async def _update_sums(
    connection: asyncpg.Connection,
    committed: dict[uuid.UUID, int],
    confirmed: dict[uuid.UUID, int],
) -> list[Write]:
    """Move the allocations' sums; their change events."""
    ids = sorted(
        allocation_id
        for allocation_id in committed
        if committed[allocation_id] or confirmed[allocation_id]
    )
    if not ids:
        return []
    # Locked in id order first, so two writers touching several allocations never deadlock.
    await connection.fetch(
        "SELECT id FROM budget_allocation WHERE id = any($1::uuid[]) ORDER BY id FOR UPDATE", ids
    )
    updated = await connection.fetch(
        "UPDATE budget_allocation a SET committed = a.committed + s.committed,"
        " confirmed = a.confirmed + s.confirmed"
        " FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS s(id, committed, confirmed)"
        f" WHERE a.id = s.id RETURNING {RETURNED_COLUMNS}",
        ids,
        [committed[allocation_id] for allocation_id in ids],
        [confirmed[allocation_id] for allocation_id in ids],
    )
    return sums_changed(updated, committed, confirmed)


def _changes(move: Move) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {"status": [move.from_status, move.to_status]}
    if move.external_reference is not None:
        changes["external_reference"] = [None, move.external_reference]
    return changes


async def transition_disbursement(
    session: AsyncSession, caller: Caller, disbursement_id: uuid.UUID, request: TransitionRequest
) -> Disbursement:
    """Move one disbursement to another status. Moving money needs write access to both the
    allocation's region and the recipient's."""
    caller.require(WRITE_SCOPE)
    disbursement = await find_disbursement(session, caller, disbursement_id, for_update=True)
    allocation_region = await session.scalar(
        select(col(Allocation.region_code)).where(col(Allocation.id) == disbursement.allocation_id)
    )
    ensure_writable(caller, allocation_region)
    ensure_writable(caller, disbursement.region_code)
    target = request.to.value
    if not may_move(disbursement.status, target):
        raise invalid_transition(disbursement.status, target)
    reference = request.external_reference
    if reference is not None and reference == disbursement.external_reference:
        reference = None
    if reference is not None:
        await _check_reference_free(session, disbursement, reference)
    move = Move(
        disbursement_id=disbursement.id,
        allocation_id=disbursement.allocation_id,
        region_code=disbursement.region_code,
        amount=disbursement.amount,
        from_status=disbursement.status,
        to_status=target,
        note=request.note,
        external_reference=reference,
    )
    try:
        await apply_moves(session, caller, [move])
    except asyncpg.UniqueViolationError:
        # Another request took the reference after our check; this transaction is rolled back.
        raise _reference_taken() from None
    return await find_disbursement(session, caller, disbursement_id)


async def _check_reference_free(
    session: AsyncSession, disbursement: Disbursement, reference: str
) -> None:
    if disbursement.external_reference is not None:
        raise Conflict(
            "The disbursement has another external reference already; it cannot change.",
            code="external_reference_set",
            errors=[FieldError("external_reference", "external_reference_set", "Already set.")],
        )
    holder = await session.scalar(
        select(col(Disbursement.id)).where(col(Disbursement.external_reference) == reference)
    )
    if holder is not None:
        raise _reference_taken()


def _reference_taken() -> Conflict:
    return Conflict(
        "Another disbursement has that external reference.",
        code="duplicate_external_reference",
        errors=[
            FieldError("external_reference", "duplicate_external_reference", "Already in use.")
        ],
    )
