"""Pair c: GraphQL's family list against REST's, for the same page of 500 families with their
members and enrollments. Two questions: does the number of SQL statements per request stay the
same whatever the page size (no query per family), and how much slower is GraphQL's rendering
of the same page (p50 within 2x of REST's). Then one nested list of each domain, the same
two questions at pages of 1 and 20 (bench/pairs/nested_lists.py)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
from sqlalchemy import event

from api.app import create_app
from bench.context import (
    JWT_KEY,
    BenchContext,
    compare_with_wrk,
    rounds_note,
    throughput_table,
)
from bench.pairs import Pair, nested_lists
from bench.results import Check, PairResult, Table, fmt
from bench.wrk import Target
from service.database import create_engine, create_session_factory
from service.settings import Settings

PAGE = 500
SMALL_PAGE = 50

GRAPHQL_QUERY = """
query Families($limit: Int!) {
  families(limit: $limit) {
    items {
      id noKk villageCode address desil dtsenId facilitatorId verificationStatus
      archivedAt archiveReason createdAt updatedAt version
      members { id nik name sex birthDate relationship nikMismatch }
      enrollments {
        programCode status startedOn endedOn graduationKind creditedFacilitatorId version
      }
    }
    nextCursor
  }
}
"""


def graphql_body(limit: int) -> dict[str, Any]:
    return {"query": GRAPHQL_QUERY, "variables": {"limit": limit}}


def _ids(door: str, body: dict[str, Any]) -> list[str]:
    items = body["data"]["families"]["items"] if door == "GraphQL" else body["items"]
    return [str(item["id"]) for item in items]


async def _request(http: httpx.AsyncClient, door: str, limit: int) -> list[str]:
    if door == "GraphQL":
        response = await http.post("/graphql", json=graphql_body(limit))
    else:
        response = await http.get("/api/v1/kpm", params={"limit": limit})
    response.raise_for_status()
    body = response.json()
    if door == "GraphQL" and body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return _ids(door, body)


async def count_statements(context: BenchContext, token: str) -> dict[tuple[str, int], int]:
    """SQL statements per request, counted in process (httpx over ASGI, the app's own engine)
    with a ``before_cursor_execute`` listener. BEGIN/COMMIT are not cursor executions."""
    settings = Settings(
        database_url=context.database.url,
        data_dir=context.options.out_dir / "in-process",
        jwt_key=JWT_KEY,
        create_demo_client=False,
    )
    app = create_app(settings, database_url=context.database.url)
    engine = create_engine(context.database.url, settings)
    app.state.engine = engine  # ASGITransport runs no lifespan
    app.state.sessions = create_session_factory(engine)
    app.state.read_sessions = app.state.sessions
    counted = [0]

    def count(*_args: object) -> None:
        counted[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    counts: dict[tuple[str, int], int] = {}
    ids: dict[tuple[str, int], list[str]] = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        ) as http:
            for door in ("REST", "GraphQL"):
                for limit in (SMALL_PAGE, PAGE):
                    await _request(http, door, limit)  # warm: first-use work is not counted
                    counted[0] = 0
                    ids[door, limit] = await _request(http, door, limit)
                    counts[door, limit] = counted[0]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        await engine.dispose()
    if ids["REST", PAGE] != ids["GraphQL", PAGE] or len(ids["REST", PAGE]) != PAGE:
        raise RuntimeError("REST and GraphQL return different pages; seed more families?")
    return counts


async def run(context: BenchContext) -> PairResult:
    token = await context.token()
    counts = await count_statements(context, token)

    body_file = context.options.out_dir / "graphql-families-500.json"
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_text(json.dumps(graphql_body(PAGE)))
    graphql = Target(
        "GraphQL",
        f"{context.service.url}/graphql",
        authorization=f"Bearer {token}",
        method="POST",
        body_file=body_file,
    )
    rest = Target(
        "REST", f"{context.service.url}/api/v1/kpm?limit={PAGE}", authorization=f"Bearer {token}"
    )
    targets = [graphql, rest]
    settings = dataclasses.replace(
        context.options.wrk, connections=context.options.list_connections
    )
    sides = await compare_with_wrk(context, targets, settings)
    # After the 500-family page is measured: the nested lists' records join the registry.
    nested = await nested_lists.measure(context)
    sizes = {
        target.label: result.bytes_read / max(result.requests, 1)
        for target, result in zip(targets, sides.best, strict=True)
    }
    statements = Table(
        ["door", f"statements, page {SMALL_PAGE}", f"statements, page {PAGE}", "KiB per page"],
        [
            [
                door,
                str(counts[door, SMALL_PAGE]),
                str(counts[door, PAGE]),
                fmt(sizes[door] / 1024),
            ]
            for door in ("REST", "GraphQL")
        ],
    )
    return PairResult(
        key="list",
        title=f"GraphQL families(limit: {PAGE}) vs REST GET /api/v1/kpm?limit={PAGE}",
        tables=[throughput_table(targets, sides), statements, nested_lists.table(nested)],
        checks=[
            Check("p50 GraphQL/REST", sides.service.p50_ms / sides.baseline.p50_ms, 2.0, False),
            *(
                Check(
                    f"statements per request {door}, page {PAGE} / page {SMALL_PAGE}",
                    counts[door, PAGE] / counts[door, SMALL_PAGE],
                    1.0,
                    False,
                )
                for door in ("REST", "GraphQL")
            ),
            *nested_lists.checks(nested),
        ],
        notes=[
            f"wrk with {settings.connections} connections for this pair (a page is large); "
            "same settings for both doors; GraphQL asks for every field REST returns",
            rounds_note(targets, sides),
            nested_lists.NOTE,
        ],
    )


PAIR = Pair("list", "GraphQL vs REST list of 500 families: statements and latency", run)
