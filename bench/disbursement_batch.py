"""Disbursement batches against a raw insert of the same rows, side by side on one database.

    python -m bench.disbursement_batch --server-url postgresql://postgres@127.0.0.1:5432/postgres

Creates a database of its own on that server (dropped at the end), migrates it, and for each
round pays ``--items`` fresh families:

- ``raw executemany``: asyncpg ``executemany`` of ``INSERT INTO disbursement`` with the rows
  the service would write, in one transaction (rolled back);
- ``raw COPY``: asyncpg ``copy_records_to_table`` of the same rows (rolled back);
- ``endpoint``: ``POST /api/v1/disbursements/batches`` through the whole application in process,
  started with its own lifespan (JSON parsing, token check, idempotency key, every rule, budget,
  history, audit, change events, the stored answer), committed.

It prints the best time of the rounds and the endpoint's rate as a share of each raw rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from api.app import create_app
from service.auth import service as auth_service
from service.auth.scopes import ALL_SCOPES
from service.auth.tokens import issue_token
from service.database import asyncpg_dsn
from service.runtime import load_reference_data, migrate
from service.settings import Settings

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
VILLAGE = "33.28.02.2001"
AMOUNT = 300_000


async def _families(connection: asyncpg.Connection, count: int) -> list[uuid.UUID]:
    prefix = f"{uuid.uuid4().int % 10**8:08d}"
    rows = await connection.fetch(
        "INSERT INTO kpm_family (no_kk, village_code)"
        " SELECT $1 || lpad(n::text, 8, '0'), $2 FROM generate_series(1, $3) AS n RETURNING id",
        prefix,
        VILLAGE,
        count,
    )
    return [row["id"] for row in rows]


async def _allocation(connection: asyncpg.Connection, year: int, count: int) -> uuid.UUID:
    allocation_id: uuid.UUID = await connection.fetchval(
        "INSERT INTO budget_allocation (program_code, fiscal_year, funding_source, region_code,"
        " amount) VALUES ('PK3E', $1, 'APBD_KABKOTA', '33.28', $2) RETURNING id",
        year,
        count * AMOUNT,
    )
    return allocation_id


def _rows(allocation_id: uuid.UUID, families: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    return [
        (
            uuid.uuid4(),
            allocation_id,
            "PK3E",
            "kpm",
            family,
            VILLAGE,
            AMOUNT,
            "Modal usaha",
            "kks",
            None,
            "scheduled",
        )
        for family in families
    ]


class _Rollback(Exception):
    """Raised inside a raw transaction to roll its rows back once timed."""


async def _timed(work: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    try:
        await work()
    except _Rollback:
        pass
    return time.perf_counter() - started


async def run(server_url: str, items: int, rounds: int) -> None:
    name = f"dinsos_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = asyncpg_dsn(server_url).rsplit("/", 1)[0] + f"/{name}"
    try:
        await migrate(url)
        settings = Settings(database_url=url, jwt_key="bench-signing-key-long-enough-for-hs256")
        app = create_app(settings, database_url=url)
        # The application's own start-up (engine, sessions, and what a server does once).
        async with app.router.lifespan_context(app):
            await _measure(app, url, items, rounds)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _measure(app: FastAPI, url: str, items: int, rounds: int) -> None:
    async with app.state.sessions() as session, session.begin():
        await load_reference_data(session)
        client = await auth_service.create_client(
            session,
            auth_service.operator(),
            name="bench",
            scopes=sorted(ALL_SCOPES),
            region_code=None,
        )
    token = issue_token(
        app.state.token_keys,
        client_id=client.client.id,
        scopes=client.client.scopes,
        region_code=None,
        secret_generation=client.client.secret_generation,
        ttl_seconds=3600,
    )
    raw = await asyncpg.connect(url)
    timings: dict[str, list[float]] = {"raw executemany": [], "raw COPY": [], "endpoint": []}
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for round_number in range(rounds + 1):  # round 0 warms up, and is not counted
                families = await _families(raw, items)
                allocation_id = await _allocation(raw, 2000 + round_number, items)
                for label, work in _contenders(raw, http, token, allocation_id, families):
                    seconds = await _timed(work)
                    if round_number:
                        timings[label].append(seconds)
    finally:
        await raw.close()
    _report(items, timings)


def _contenders(
    raw: asyncpg.Connection,
    http: httpx.AsyncClient,
    token: str,
    allocation_id: uuid.UUID,
    families: list[uuid.UUID],
) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
    """The same payments three ways: raw inserts (rolled back), and the endpoint."""
    rows = _rows(allocation_id, families)
    placeholders = ", ".join(f"${n}" for n in range(1, len(COLUMNS) + 1))

    async def executemany() -> None:
        async with raw.transaction():
            await raw.executemany(
                f"INSERT INTO disbursement ({', '.join(COLUMNS)}) VALUES ({placeholders})", rows
            )
            raise _Rollback

    async def copy() -> None:
        async with raw.transaction():
            await raw.copy_records_to_table("disbursement", records=rows, columns=COLUMNS)
            raise _Rollback

    body = {
        "items": [
            {
                "allocation_id": str(allocation_id),
                "recipient_kind": "kpm",
                "recipient_id": str(family),
                "amount": AMOUNT,
                "purpose": "Modal usaha",
                "channel": "kks",
            }
            for family in families
        ]
    }

    async def endpoint() -> None:
        response = await http.post(
            "/api/v1/disbursements/batches",
            json=body,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        assert response.json()["created"] == len(families), response.text[:500]

    return [("raw executemany", executemany), ("raw COPY", copy), ("endpoint", endpoint)]


def _report(items: int, timings: dict[str, list[float]]) -> None:
    best = {label: min(values) for label, values in timings.items()}
    print(f"{items} items, best of {len(timings['endpoint'])} rounds")
    for label, values in timings.items():
        print(
            f"  {label:16} {best[label]:7.3f} s  (median {statistics.median(values):.3f} s)"
            f"  {items / best[label]:9.0f} rows/s"
        )
    for baseline in ("raw executemany", "raw COPY"):
        print(f"  endpoint rate / {baseline} rate: {best[baseline] / best['endpoint']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.server_url, arguments.items, arguments.rounds))


if __name__ == "__main__":
    main()
