"""The requests that move money, each run at most once per Idempotency-Key, for both doors.

REST and GraphQL call these with the same operation names and the same canonical payloads, so a
request retried through the other door is recognised too. Each runs in a transaction of its own
(see ``service.idempotency``) and answers the response to store and replay.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.disbursements import (
    BatchItemResult,
    BatchResult,
    DisbursementCreate,
    ItemError,
    TransitionRequest,
)
from service.access import Caller
from service.database import OneStatement
from service.disbursements.creation import ItemOutcome, create_disbursements, create_payment
from service.disbursements.payment import pay_once
from service.disbursements.queries import present_disbursement
from service.disbursements.reconciliation import reconcile
from service.disbursements.rules import WRITE_SCOPE, Refusal
from service.disbursements.transitions import transition_disbursement
from service.idempotency.service import (
    Deferred,
    Outcome,
    StoredResponse,
    canonical_json,
    check_key,
    key_owner,
    request_hash,
    run_once,
)

Sessions = async_sessionmaker[AsyncSession]

_ITEM = TypeAdapter(DisbursementCreate)


async def create_once(
    sessions: Sessions,
    caller: Caller,
    key: str | None,
    data: DisbursementCreate,
    statements: OneStatement | None = None,
) -> Outcome:
    """One disbursement: 201 with it, or the refusal as an error (nothing stored). Two
    statements on the driver (``service.disbursements.payment``); a key used before in any
    state but done, and a payment that waited ``payment.LOCK_WAIT`` for a lock, take the
    general path of ``service.idempotency`` with ``work``, and so does every payment when no
    ``statements`` are given."""
    caller.require(WRITE_SCOPE)

    async def work(session: AsyncSession) -> Deferred:
        outcome, charge = await create_payment(session, caller, data)
        if outcome.refusal is not None:
            raise outcome.refusal.as_error()
        assert outcome.record is not None
        assert charge is not None
        answer = StoredResponse(201, outcome.record.model_dump(mode="json"))
        # The allocation is locked last, once the answer is stored: see create_payment.
        return Deferred(answer, charge.apply)

    fingerprint = request_hash("createDisbursement", canonical_json(data.model_dump(mode="json")))
    if statements is None:
        return await run_once(sessions, caller, key, fingerprint, work)
    return await pay_once(
        statements,
        caller,
        key_owner(caller),
        check_key(key),
        fingerprint,
        data,
        lambda: run_once(sessions, caller, key, fingerprint, work),
    )


def parse_item(raw: Any) -> DisbursementCreate | Refusal:
    """A batch item, checked on its own: a malformed item is refused with its first problem."""
    try:
        return _ITEM.validate_python(raw)
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in problem["loc"]) or "item"
        return Refusal(problem["type"], field, problem["msg"])


def batch_result(outcomes: Sequence[ItemOutcome]) -> BatchResult:
    items = [
        BatchItemResult(
            index=outcome.index,
            status="created" if outcome.refusal is None else "refused",
            id=outcome.disbursement_id,
            error=None
            if outcome.refusal is None
            else ItemError(
                code=outcome.refusal.code,
                field=outcome.refusal.field,
                message=outcome.refusal.message,
            ),
        )
        for outcome in outcomes
    ]
    created = [outcome for outcome in outcomes if outcome.refusal is None]
    return BatchResult(
        received=len(outcomes),
        created=len(created),
        refused=len(outcomes) - len(created),
        amount_created=sum(outcome.amount for outcome in created),
        items=items,
    )


async def create_batch_once(
    sessions: Sessions, caller: Caller, key: str | None, raw_items: list[Any]
) -> Outcome:
    """Many disbursements: 200 with a result per item, whatever was refused."""
    caller.require(WRITE_SCOPE)

    async def work(session: AsyncSession) -> StoredResponse:
        outcomes = await create_disbursements(
            session, caller, [parse_item(raw) for raw in raw_items]
        )
        return StoredResponse(200, batch_result(outcomes).model_dump(mode="json"))

    fingerprint = request_hash("createDisbursementBatch", canonical_json({"items": raw_items}))
    return await run_once(sessions, caller, key, fingerprint, work)


async def transition_once(
    sessions: Sessions,
    caller: Caller,
    key: str | None,
    disbursement_id: uuid.UUID,
    request: TransitionRequest,
) -> Outcome:
    caller.require(WRITE_SCOPE)

    async def work(session: AsyncSession) -> StoredResponse:
        disbursement = await transition_disbursement(session, caller, disbursement_id, request)
        return StoredResponse(200, present_disbursement(disbursement).model_dump(mode="json"))

    # The disbursement is part of the request: the same key for another one is a reuse.
    fingerprint = request_hash(
        f"transitionDisbursement {disbursement_id}",
        canonical_json(request.model_dump(mode="json")),
    )
    return await run_once(sessions, caller, key, fingerprint, work)


async def reconcile_once(
    sessions: Sessions, caller: Caller, key: str | None, content: bytes
) -> Outcome:
    caller.require(WRITE_SCOPE)

    async def work(session: AsyncSession) -> StoredResponse:
        result = await reconcile(session, caller, content)
        return StoredResponse(200, result.model_dump(mode="json"))

    return await run_once(
        sessions, caller, key, request_hash("reconcileDisbursements", content), work
    )
