"""Pair b: an authenticated family read by id (members and enrollments included) against the
baseline fetching the same rows. The service is measured twice: with a token that holds
``pii:read`` (unmasked numbers; the read is audited, so each request writes an audit row and
commits) and with a ``kpm:read``-only token (masked numbers, nothing written). The targets
apply to the first."""

from __future__ import annotations

from typing import Any

import httpx

from bench.context import (
    BenchContext,
    compare_with_wrk,
    rounds_note,
    throughput_checks,
    throughput_table,
)
from bench.pairs import Pair
from bench.results import PairResult
from bench.wrk import Target


def _same_rows(served: dict[str, Any], bare: dict[str, Any]) -> bool:
    return (
        served["id"] == bare["id"]
        and served["no_kk"] == bare["no_kk"]
        and [m["id"] for m in served["members"]] == [m["id"] for m in bare["members"]]
        and [m["nik"] for m in served["members"]] == [m["nik"] for m in bare["members"]]
        and [e["program_code"] for e in served["enrollments"]]
        == [e["program_code"] for e in bare["enrollments"]]
    )


async def run(context: BenchContext) -> PairResult:
    assert context.family_id is not None
    path = f"/api/v1/kpm/{context.family_id}"
    unmasked = await context.token()
    masked = await context.token(scope="kpm:read")
    service = Target("service (pii:read)", context.service.url + path, f"Bearer {unmasked}")
    service_masked = Target("service (kpm:read)", context.service.url + path, f"Bearer {masked}")
    baseline = Target("baseline", f"{context.baseline.url}/kpm/{context.family_id}")
    async with httpx.AsyncClient(timeout=30) as http:
        served = await http.get(service.url, headers={"Authorization": f"Bearer {unmasked}"})
        bare = await http.get(baseline.url)
    served.raise_for_status()
    bare.raise_for_status()
    if not _same_rows(served.json(), bare.json()):
        raise RuntimeError(f"the sides answer differently:\n{served.text}\n{bare.text}")
    members = len(bare.json()["members"])
    targets = [service, service_masked, baseline]
    sides = await compare_with_wrk(context, targets)
    return PairResult(
        key="kpm",
        title=f"GET /api/v1/kpm/{{id}} ({members} members) vs Starlette + asyncpg",
        tables=[throughput_table(targets, sides)],
        checks=throughput_checks(sides, min_throughput=0.4, max_p99=3.0),
        notes=[
            "baseline: 3 queries (family, members, enrollments) on one pooled connection; "
            "service: the token, the client (from memory) and its rate, then one statement "
            "reading the family with its members and enrollments, which with pii:read also "
            "writes the read's audit entry (committed with the statement, before the answer)",
            rounds_note(targets, sides),
        ],
    )


PAIR = Pair("kpm", "family by id with members vs bare Starlette + asyncpg", run)
