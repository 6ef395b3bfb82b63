"""Pair: the same family read through both doors, as a village system using GraphQL makes it:
``query { family(id) { ...every field } }`` against ``GET /api/v1/kpm/{id}``, both with
``pii:read`` (unmasked, audited). The two doors run one service function, so the gap is what
GraphQL itself costs. The service answers a query text it has run before from its plan
(``api/graphql/prepared_reads.py``): the document's parsing, validation and guards were done
when it was learned, and the answer is built from the resolver's objects without graphql-core's
execution field by field; the warm-up teaches it."""

from __future__ import annotations

import json

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

QUERY = """query Family($id: UUID!) {
  family(id: $id) {
    id noKk villageCode address desil dtsenId facilitatorId verificationStatus archivedAt
    archiveReason createdAt updatedAt version
    members { id nik name sex birthDate relationship nikMismatch }
    enrollments {
      programCode status startedOn endedOn graduationKind creditedFacilitatorId version
    }
  }
}"""


async def run(context: BenchContext) -> PairResult:
    assert context.family_id is not None
    token = await context.token()
    body = {"query": QUERY, "variables": {"id": str(context.family_id)}}
    body_file = context.options.out_dir / "graphql-family.json"
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_text(json.dumps(body))
    graphql = Target(
        "GraphQL family(id)",
        f"{context.service.url}/graphql",
        authorization=f"Bearer {token}",
        method="POST",
        body_file=body_file,
    )
    rest = Target(
        "REST GET /api/v1/kpm/{id}",
        f"{context.service.url}/api/v1/kpm/{context.family_id}",
        authorization=f"Bearer {token}",
    )
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        over_graphql = (await http.post(graphql.url, json=body)).json()
        over_rest = (await http.get(rest.url)).json()
    family = over_graphql.get("data", {}).get("family") if over_graphql.get("data") else None
    if (
        family is None
        or family["noKk"] != over_rest["no_kk"]
        or len(family["members"]) != len(over_rest["members"])
    ):
        raise RuntimeError(f"the doors answer differently:\n{over_graphql}\n{over_rest}")
    targets = [graphql, rest]
    sides = await compare_with_wrk(context, targets)
    return PairResult(
        key="graphql-family",
        title="GraphQL family(id) vs REST GET /api/v1/kpm/{id} (pii:read, audited)",
        tables=[throughput_table(targets, sides)],
        checks=throughput_checks(sides, min_throughput=1 / 1.5, max_p99=1.5, label="GraphQL/REST"),
        notes=[
            "both doors: the token and the client from memory, one statement reading the "
            "family with its members and enrollments and writing the read's audit entry; "
            "GraphQL answers the query from the plan it learned the first time it ran it "
            "(variables coerced, the fields read from the resolver's objects)",
            rounds_note(targets, sides),
        ],
    )


PAIR = Pair("graphql-family", "GraphQL family(id) vs the REST read of it", run)
