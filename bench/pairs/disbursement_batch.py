"""Pair f: a batch of 10,000 disbursements through the running service (``POST
/api/v1/disbursements/batches`` over HTTP, a real token, an Idempotency-Key) against a raw
asyncpg insert of the same rows into the same table: ``executemany`` (the target), and
``copy_records_to_table`` for reference.

Every round pays 10,000 fresh families, inserted beforehand (untimed). The service side is
timed from the first byte of the request (its JSON already encoded) to the last byte of the
answer, and does everything a batch does: token and client check, idempotency claim, the rules
of every item, the budget, the rows, their history, audit entries, change events and the stored
answer, committed. The raw sides insert the rows the service would write, commit, and are then
deleted (untimed), so each side writes into a table of the same size. The families and
allocations helpers here are also the payments pair's."""

from __future__ import annotations

import json
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from bench.context import BenchContext
from bench.pairs import Pair
from bench.results import Check, PairResult, Table, fmt

ITEMS = 10_000
VILLAGE = "33.28.02.2001"
REGENCY = "33.28"
PROGRAM = "PK3E"
AMOUNT = 300_000
PURPOSE = "Modal usaha"
CHANNEL = "kks"
# A warm-up round, then at least this many timed rounds (more with --rounds).
MIN_ROUNDS = 3
MIN_RATE_VS_EXECUTEMANY = 0.3

COLUMNS = [
    "id",
    "allocation_id",
    "program_code",
    "recipient_kind",
    "recipient_id",
    "region_code",
    "amount",
    "purpose",
    "channel",
    "period",
    "status",
]
INSERT_SQL = (
    f"INSERT INTO disbursement ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))})"
)


async def new_families(
    connection: asyncpg.Connection, count: int, village: str = VILLAGE
) -> list[uuid.UUID]:
    """``count`` live families without members in ``village``, in one statement: a payment
    needs only the family and its village. Their No KK has a random prefix of its own."""
    prefix = f"{secrets.randbelow(10**8):08d}"
    rows = await connection.fetch(
        "INSERT INTO kpm_family (no_kk, village_code)"
        " SELECT $1 || lpad(n::text, 8, '0'), $2 FROM generate_series(1, $3) AS n RETURNING id",
        prefix,
        village,
        count,
    )
    return [row["id"] for row in rows]


def allocation_body(fiscal_year: int, funding_source: str, amount: int) -> dict[str, Any]:
    """PK3E money of Kabupaten Tegal (``tests/factories.py``'s shape)."""
    return {
        "program_code": PROGRAM,
        "fiscal_year": fiscal_year,
        "funding_source": funding_source,
        "region_code": REGENCY,
        "amount": amount,
    }


async def service_allocation(context: BenchContext, token: str, body: dict[str, Any]) -> uuid.UUID:
    """An allocation made through the running service (``allocations:write``)."""
    async with httpx.AsyncClient(base_url=context.service.url, timeout=30) as http:
        response = await http.post(
            "/api/v1/allocations", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    if response.status_code != 201:
        raise RuntimeError(f"allocation refused: {response.status_code} {response.text}")
    return uuid.UUID(response.json()["id"])


async def budget_state(connection: asyncpg.Connection, allocation_id: uuid.UUID) -> asyncpg.Record:
    """The allocation's committed sum beside the sum and count of its open disbursements."""
    row = await connection.fetchrow(
        "SELECT a.committed, coalesce(d.total, 0) AS total, coalesce(d.count, 0) AS count"
        " FROM budget_allocation a LEFT JOIN LATERAL (SELECT sum(amount)::bigint AS total,"
        " count(*) AS count FROM disbursement WHERE allocation_id = a.id"
        " AND status NOT IN ('failed', 'reversed')) d ON true WHERE a.id = $1",
        allocation_id,
    )
    assert row is not None
    return row


def rows(allocation_id: uuid.UUID, families: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    """The rows the service writes for a batch paying ``families``, in ``COLUMNS`` order."""
    return [
        (
            uuid.uuid4(),
            allocation_id,
            PROGRAM,
            "kpm",
            family,
            VILLAGE,
            AMOUNT,
            PURPOSE,
            CHANNEL,
            None,
            "scheduled",
        )
        for family in families
    ]


def batch_body(allocation_id: uuid.UUID, families: list[uuid.UUID]) -> bytes:
    """The same payments as a ``POST /api/v1/disbursements/batches`` body."""
    items = [
        {
            "allocation_id": str(allocation_id),
            "recipient_kind": "kpm",
            "recipient_id": str(family),
            "amount": AMOUNT,
            "purpose": PURPOSE,
            "channel": CHANNEL,
        }
        for family in families
    ]
    return json.dumps({"items": items}).encode()


Side = Callable[[uuid.UUID, list[uuid.UUID]], Awaitable[float]]


def raw_sides(connection: asyncpg.Connection) -> dict[str, Side]:
    """The rows inserted, committed (timed), then deleted again (untimed)."""

    async def insert(
        allocation_id: uuid.UUID,
        families: list[uuid.UUID],
        write: Callable[[list[tuple[Any, ...]]], Awaitable[Any]],
    ) -> float:
        records = rows(allocation_id, families)
        started = time.perf_counter()
        async with connection.transaction():
            await write(records)
        seconds = time.perf_counter() - started
        await connection.execute(
            "DELETE FROM disbursement WHERE id = any($1::uuid[])", [r[0] for r in records]
        )
        return seconds

    async def executemany(allocation_id: uuid.UUID, families: list[uuid.UUID]) -> float:
        return await insert(
            allocation_id, families, lambda records: connection.executemany(INSERT_SQL, records)
        )

    async def copy(allocation_id: uuid.UUID, families: list[uuid.UUID]) -> float:
        return await insert(
            allocation_id,
            families,
            lambda records: connection.copy_records_to_table(
                "disbursement", records=records, columns=COLUMNS
            ),
        )

    return {"raw asyncpg executemany": executemany, "raw asyncpg COPY": copy}


def service_side(http: httpx.AsyncClient, token: str) -> Side:
    async def post(allocation_id: uuid.UUID, families: list[uuid.UUID]) -> float:
        body = batch_body(allocation_id, families)
        headers = {
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        started = time.perf_counter()
        response = await http.post("/api/v1/disbursements/batches", content=body, headers=headers)
        content = await response.aread()
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"batch refused: {response.status_code} {content[:1000]!r}")
        answer = json.loads(content)
        if answer["created"] != len(families):
            refused = [item for item in answer["items"] if item["status"] != "created"][:3]
            created = answer["created"]
            raise RuntimeError(f"the batch created {created} of {len(families)}: {refused}")
        return seconds

    return post


async def run(context: BenchContext) -> PairResult:
    token = await context.token("disbursements:write allocations:write")
    # Room for every round, the warm-up included.
    allocation_id = await service_allocation(
        context, token, allocation_body(2025, "APBD_KABKOTA", 10**12)
    )
    rounds = max(MIN_ROUNDS, context.options.rounds)
    connection = await asyncpg.connect(context.database.dsn)
    timings: dict[str, list[float]] = {}
    try:
        async with httpx.AsyncClient(base_url=context.service.url, timeout=300) as http:
            sides = {
                "service (POST /api/v1/disbursements/batches)": service_side(http, token),
                **raw_sides(connection),
            }
            labels = list(sides)
            timings = {label: [] for label in labels}
            for number in range(rounds + 1):  # round 0 warms up and is not counted
                families = await new_families(connection, ITEMS)
                shift = number % len(labels)
                for label in labels[shift:] + labels[:shift]:
                    seconds = await sides[label](allocation_id, families)
                    if number:
                        timings[label].append(seconds)
                if number:
                    took = ", ".join(f"{label} {timings[label][-1]:.2f}s" for label in labels)
                    print(f"  round {number}: {took}", flush=True)
        budget = await budget_state(connection, allocation_id)
    finally:
        await connection.close()
    return result(timings, budget, rounds)


def result(timings: dict[str, list[float]], budget: asyncpg.Record, rounds: int) -> PairResult:
    service, executemany, copy = timings
    best = {label: min(values) for label, values in timings.items()}
    rate = {label: ITEMS / seconds for label, seconds in best.items()}

    def ratio(raw: str) -> str:
        return fmt(rate[service] / rate[raw], "x")

    table = Table(
        ["side", "items", "best s", "median s", "items/s"],
        [
            [
                label,
                f"{ITEMS:,}",
                fmt(best[label]),
                fmt(statistics.median(values)),
                fmt(rate[label]),
            ]
            for label, values in timings.items()
        ]
        + [
            ["ratio service / executemany", "", "", "", ratio(executemany)],
            ["ratio service / COPY", "", "", "", ratio(copy)],
        ],
    )
    per_round = "; ".join(
        " / ".join(fmt(timings[label][n]) for label in timings) for n in range(rounds)
    )
    notes = [
        "service: token and client, idempotency claim, every item's rules, the allocation "
        "locked, COPY of the rows, the budget, then history, audit and change events in one "
        "statement the database builds from the new rows (only their ids travel), the stored "
        "answer; one commit. Raw: the same rows (ids made in Python), one transaction, commit; "
        "no budget, no history, no audit",
        f"seconds per round (service / executemany / COPY): {per_round}; a warm-up round "
        "first, the best round of each side is shown",
        f"allocation after the run: committed {budget['committed']:,} rupiah, its "
        f"{budget['count']:,} disbursements sum to {budget['total']:,}"
        + (" (equal)" if budget["committed"] == budget["total"] else " (NOT equal)"),
    ]
    return PairResult(
        key="batch",
        title=f"POST /api/v1/disbursements/batches ({ITEMS:,} items) vs raw asyncpg insert",
        tables=[table],
        checks=[
            Check(
                "batch rate service/executemany",
                rate[service] / rate[executemany],
                MIN_RATE_VS_EXECUTEMANY,
                True,
            )
        ],
        notes=notes,
    )


PAIR = Pair("batch", "10,000-item disbursement batch vs raw asyncpg executemany (and COPY)", run)
