"""The bare baseline: a minimal Starlette app on an asyncpg pool, serving the same rows as the
service's read endpoints, with the same JSON shape, and writing a disbursement the least way
that keeps the budget. No authentication, no ORM, no validation layer, no middleware: what is
left is the floor that the service's overhead is measured against.

Run as ``uvicorn bench.baseline:app`` with ``DATABASE_URL`` in the environment.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

# The same ceiling as the service's pool (DINSOS_DB_POOL_SIZE 30 + DINSOS_DB_MAX_OVERFLOW 0).
POOL_MAX = int(os.environ.get("BENCH_BASELINE_POOL_MAX", "30"))

_pool: asyncpg.Pool | None = None


def _pool_of() -> asyncpg.Pool:
    assert _pool is not None
    return _pool


def _dotted(raw: str) -> str | None:
    """``3328022001`` or ``33.28.02.2001`` -> ``33.28.02.2001``."""
    code = raw.strip()
    if "." in code:
        return code
    widths = {2: (2,), 4: (2, 2), 6: (2, 2, 2), 10: (2, 2, 2, 4)}.get(len(code))
    if widths is None or not code.isdigit():
        return None
    parts, start = [], 0
    for width in widths:
        parts.append(code[start : start + width])
        start += width
    return ".".join(parts)


def _json(body: Any, status_code: int = 200) -> Response:
    return Response(
        json.dumps(body, default=str, separators=(",", ":")),
        status_code=status_code,
        media_type="application/json",
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def region(request: Request) -> Response:
    """The region and the chain above it, in one query (as the service does)."""
    code = _dotted(request.path_params["code"])
    if code is None:
        return JSONResponse({"detail": "invalid code"}, status_code=422)
    parts = code.split(".")
    wanted = [".".join(parts[: i + 1]) for i in range(len(parts))]
    rows = await _pool_of().fetch(
        "SELECT code, parent_code, level, name FROM region WHERE code = any($1::text[])", wanted
    )
    by_code = {row["code"]: row for row in rows}
    found = by_code.get(code)
    if found is None:
        return JSONResponse({"detail": "not found"}, status_code=404)
    return _json(
        {
            "code": found["code"],
            "name": found["name"],
            "level": found["level"],
            "parent_code": found["parent_code"],
            "parents": [
                {"code": c, "name": by_code[c]["name"], "level": by_code[c]["level"]}
                for c in wanted[:-1]
                if c in by_code
            ],
        }
    )


FAMILY_SQL = (
    "SELECT id, created_at, updated_at, version, no_kk, village_code, address, desil, dtsen_id,"
    " facilitator_id, verification_status, archived_at, archive_reason"
    " FROM kpm_family WHERE id = $1"
)
MEMBERS_SQL = (
    "SELECT id, nik, name, sex, birth_date, relationship, nik_mismatch"
    " FROM kpm_member WHERE family_id = $1 ORDER BY position"
)
ENROLLMENTS_SQL = (
    "SELECT id, created_at, updated_at, version, family_id, program_code, status, started_on,"
    " ended_on, graduation_kind, credited_facilitator_id"
    " FROM kpm_enrollment WHERE family_id = $1 ORDER BY program_code"
)


async def family(request: Request) -> Response:
    """The family row, its members and its enrollments: the rows the service's read returns."""
    try:
        family_id = uuid.UUID(request.path_params["family_id"])
    except ValueError:
        return JSONResponse({"detail": "invalid id"}, status_code=422)
    async with _pool_of().acquire() as connection:
        row = await connection.fetchrow(FAMILY_SQL, family_id)
        if row is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        members = await connection.fetch(MEMBERS_SQL, family_id)
        enrollments = await connection.fetch(ENROLLMENTS_SQL, family_id)
    body = dict(row)
    body["members"] = [dict(member) for member in members]
    body["enrollments"] = [dict(enrollment) for enrollment in enrollments]
    return _json(body)


# The budget first: the conditional UPDATE locks the allocation's row until the commit, so
# concurrent payments queue on it and the sum never passes the amount.
COMMIT_BUDGET_SQL = (
    "UPDATE budget_allocation SET committed = committed + $2"
    " WHERE id = $1 AND committed + $2 <= amount RETURNING program_code"
)
# The row, with the recipient's village as its region (nothing when there is no live family).
INSERT_DISBURSEMENT_SQL = (
    "INSERT INTO disbursement (id, allocation_id, program_code, recipient_kind, recipient_id,"
    " region_code, amount, purpose, channel, period, status)"
    " SELECT $1, $2, $3, 'kpm', f.id, f.village_code, $5, $6, $7, $8, 'scheduled'"
    " FROM kpm_family f WHERE f.id = $4 AND f.archived_at IS NULL"
    " RETURNING id, created_at, updated_at, version, allocation_id, program_code, recipient_kind,"
    " recipient_id, region_code, amount, purpose, channel, period, status, external_reference"
)


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def disbursement(request: Request) -> Response:
    """A payment to a family out of an allocation: budget and row in one transaction."""
    try:
        body = json.loads(await request.body())
        allocation_id = uuid.UUID(body["allocation_id"])
        recipient_id = uuid.UUID(body["recipient_id"])
        amount = body["amount"]
        if not isinstance(amount, int) or amount < 1:
            raise ValueError("amount")
        values = (body["purpose"], body["channel"], body.get("period"))
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"detail": "invalid body"}, status_code=422)
    try:
        async with _pool_of().acquire() as connection, connection.transaction():
            program_code = await connection.fetchval(COMMIT_BUDGET_SQL, allocation_id, amount)
            if program_code is None:
                raise _Refused(409, "allocation exhausted or unknown")
            row = await connection.fetchrow(
                INSERT_DISBURSEMENT_SQL,
                uuid.uuid4(),
                allocation_id,
                program_code,
                recipient_id,
                amount,
                *values,
            )
            if row is None:
                raise _Refused(422, "unknown recipient")
    except _Refused as refused:
        return JSONResponse({"detail": refused.detail}, status_code=refused.status)
    except asyncpg.UniqueViolationError:
        return JSONResponse({"detail": "duplicate disbursement"}, status_code=409)
    return _json(dict(row), status_code=201)


# The change feed's columns, in the service's order (txid, id).
CHANGE_COLUMNS = (
    "id, txid, entity, record_id, action, version, changed_fields, occurred_at, region_code,"
    " payload"
)
CHANGES_SQL = f"SELECT {CHANGE_COLUMNS} FROM change_event ORDER BY txid, id"
CHANGES_AFTER_SQL = (
    f"SELECT {CHANGE_COLUMNS} FROM change_event WHERE (txid, id) > ($1, $2)"
    " ORDER BY txid, id LIMIT $3"
)
CHANGE_CHUNK = 500


def change_json(row: asyncpg.Record) -> str:
    """A change as the service's feed shows it to a ``pii:read`` reader. asyncpg hands
    ``jsonb`` over as text: the payload is spliced in as it is, never decoded."""
    head = json.dumps(
        {
            "entity": row["entity"],
            "record_id": row["record_id"],
            "action": row["action"],
            "version": row["version"],
            "changed_fields": row["changed_fields"],
            "occurred_at": row["occurred_at"].isoformat(),
            "region_code": row["region_code"],
        },
        separators=(",", ":"),
    )
    return f'{head[:-1]},"record":{row["payload"] or "null"}}}'


async def change_stream(request: Request) -> Response:
    """Every change event, as JSON lines, from one server-side cursor: the floor of draining
    the feed over HTTP (no pages, no horizon, no scoping, no masking, no audit)."""

    async def chunks() -> AsyncIterator[bytes]:
        async with _pool_of().acquire() as connection, connection.transaction():
            cursor = await connection.cursor(CHANGES_SQL)
            while rows := await cursor.fetch(CHANGE_CHUNK):
                yield "".join(change_json(row) + "\n" for row in rows).encode()

    return StreamingResponse(chunks(), media_type="application/x-ndjson")


async def change_page(request: Request) -> Response:
    """The feed paged like the service's (``after`` = ``txid.id`` of the last event, keyset on
    the same index): what paging itself costs, for comparison."""
    try:
        txid, event_id = (int(part) for part in request.query_params.get("after", "0.0").split("."))
        limit = int(request.query_params.get("limit", "500"))
    except ValueError:
        return JSONResponse({"detail": "invalid after or limit"}, status_code=422)
    rows = await _pool_of().fetch(CHANGES_AFTER_SQL, txid, event_id, limit)
    cursor = f"{rows[-1]['txid']}.{rows[-1]['id']}" if rows else f"{txid}.{event_id}"
    items = ",".join(change_json(row) for row in rows)
    return Response(
        f'{{"items":[{items}],"next_cursor":"{cursor}"}}', media_type="application/json"
    )


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global _pool
    _pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"],
        min_size=1,
        max_size=POOL_MAX,
        server_settings={"timezone": "UTC", "application_name": "dinsos-bench-baseline"},
    )
    try:
        yield
    finally:
        await _pool.close()
        _pool = None


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/regions/{code}", region),
        Route("/kpm/{family_id}", family),
        Route("/disbursements", disbursement, methods=["POST"]),
        Route("/changes", change_page),
        Route("/changes/stream", change_stream),
    ],
    lifespan=lifespan,
)
