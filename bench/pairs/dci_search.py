"""Pair: a family found by NIK through the DCI door (``POST /dci/registry/sync/search``,
``idtype-value``, a Group) against the REST read of the same family by id
(``GET /api/v1/kpm/{id}``), both with ``pii:read`` (unmasked, audited). Every DCI request carries
a message_id of its own (a repeated one would be refused as a replay). Target: the DCI p50 at
most 1.5x the REST one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import httpx

from bench.context import (
    BenchContext,
    compare_with_wrk,
    rounds_note,
    throughput_checks,
    throughput_table,
)
from bench.pairs import Pair
from bench.results import Check, PairResult
from bench.wrk import Target, WrkResult

FIRST_GUESS_RPS = 3000.0
HEADROOM = 3.0  # a warm-up runs slower than the rounds after it


def search_body(nik: str, message_id: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "header": {
            "version": "1.0.0",
            "message_id": message_id,
            "message_ts": now,
            "action": "search",
            "sender_id": "bench.example.org",
            "total_count": 1,
        },
        "message": {
            "transaction_id": "bench",
            "search_request": [
                {
                    "reference_id": "1",
                    "timestamp": now,
                    "search_criteria": {
                        "query_type": "idtype-value",
                        "response_entity": "Group",
                        "query": {"type": "NIK", "value": nik},
                    },
                }
            ],
        },
    }


def _check_values(target: Target, result: WrkResult) -> None:
    exhausted = int(result.extra.get("values_exhausted", 0))
    if exhausted:
        raise RuntimeError(f"{target.label}: {exhausted} requests reused a message_id")


async def run(context: BenchContext) -> PairResult:
    assert context.family_id is not None
    # The roll was just loaded: give the planner the statistics autovacuum would have gathered
    # (without them it walks every family to find one NIK).
    connection = await asyncpg.connect(context.database.dsn)
    try:
        await connection.execute("ANALYZE kpm_family, kpm_member, kpm_enrollment")
    finally:
        await connection.close()
    token = await context.token()
    rest_url = f"{context.service.url}/api/v1/kpm/{context.family_id}"
    dci_url = f"{context.service.url}/dci/registry/sync/search"
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        over_rest = (await http.get(rest_url)).raise_for_status().json()
        nik = over_rest["members"][0]["nik"]
        answer = (await http.post(dci_url, json=search_body(nik, str(uuid.uuid4())))).json()
    items = answer.get("message", {}).get("search_response", [])
    records = items[0].get("data", {}).get("reg_records", []) if items else []
    if [record["@id"] for record in records] != [over_rest["id"]] or (
        records[0]["group_identifier"][0]["identifier_value"] != over_rest["no_kk"]
    ):
        raise RuntimeError(f"the doors answer differently:\n{answer}\n{over_rest}")

    template = json.dumps(search_body(nik, "@VALUE@"))
    folder = context.options.out_dir / "dci-search"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.txt"):
        stale.unlink()
    runs = iter(range(1, 1000))
    settings = context.options.wrk
    dci = Target(
        "DCI sync search by NIK",
        dci_url,
        authorization=f"Bearer {token}",
        method="POST",
        environment={"BENCH_BODY_TEMPLATE": template},
    )
    rest = Target("REST GET /api/v1/kpm/{id}", rest_url, authorization=f"Bearer {token}")

    async def prepare(target: Target, duration_s: int, previous: WrkResult | None) -> Target:
        if target is not dci and target.label != dci.label:
            return target
        if previous is not None:
            _check_values(target, previous)
        rate = previous.requests_per_s if previous is not None else FIRST_GUESS_RPS
        needed = int(rate * duration_s * HEADROOM) + 4 * settings.connections + 200
        path = folder / f"{next(runs):02d}.txt"
        path.write_text("".join(f"{uuid.uuid4()}\n" for _ in range(needed)))
        return dataclasses.replace(
            target, environment={**target.environment, "BENCH_VALUES_FILE": str(path)}
        )

    targets = [dci, rest]
    sides = await compare_with_wrk(context, targets, prepare=prepare)
    for round_results in sides.rounds:
        _check_values(dci, round_results[0])
    s, b = sides.service, sides.baseline
    return PairResult(
        key="dci-search",
        title="DCI registry/sync/search by NIK vs REST GET /api/v1/kpm/{id} (pii:read, audited)",
        tables=[throughput_table(targets, sides)],
        checks=[
            Check("p50 DCI/REST", s.p50_ms / b.p50_ms, 1.5, False),
            *throughput_checks(sides, min_throughput=1 / 1.5, max_p99=2.0, label="DCI/REST"),
        ],
        notes=[
            "DCI: the envelope checked, the caller's keys from memory (none: no signature "
            "needed), one statement without a transaction finding the family by a member's NIK "
            "with its members, enrollments and the total and writing the audit entry and the "
            "journal row (replay detection), the answer signed (Ed25519); REST: one statement "
            "reading the family and writing its audit entry; the tables ANALYZEd after the seed",
            rounds_note(targets, sides),
        ],
    )


PAIR = Pair("dci-search", "DCI sync search by NIK vs the REST read by id", run, default=False)
