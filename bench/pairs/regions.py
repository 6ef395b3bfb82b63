"""Pair a: an authenticated region read by code, with its parent chain, against the baseline's
one query for the same rows."""

from __future__ import annotations

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

# A village: the answer carries its district, regency and province.
CODE = "33.28.02.2001"


async def run(context: BenchContext) -> PairResult:
    token = await context.token()
    service = Target(
        "service", f"{context.service.url}/api/v1/regions/{CODE}", authorization=f"Bearer {token}"
    )
    baseline = Target("baseline", f"{context.baseline.url}/regions/{CODE}")
    async with httpx.AsyncClient(timeout=30) as http:
        served = await http.get(service.url, headers={"Authorization": f"Bearer {token}"})
        bare = await http.get(baseline.url)
    served.raise_for_status()
    bare.raise_for_status()
    if served.json() != bare.json():
        raise RuntimeError(f"the sides answer differently:\n{served.text}\n{bare.text}")
    targets = [service, baseline]
    sides = await compare_with_wrk(context, targets)
    return PairResult(
        key="regions",
        title=f"GET /api/v1/regions/{CODE} (with parents) vs Starlette + asyncpg",
        tables=[throughput_table(targets, sides)],
        checks=throughput_checks(sides, min_throughput=0.5, max_p99=3.0),
        notes=[
            "same JSON body on both sides; the service also checks the token, the client "
            "(from memory, kept true by notifications) and the client's rate on every request; "
            "one statement, no transaction, on both sides",
            rounds_note(targets, sides),
        ],
    )


PAIR = Pair("regions", "region by code vs bare Starlette + asyncpg", run)
