"""GraphQL's list filters and arguments have REST's bounds (one definition, schemas/filters.py):
the same values are refused through both doors, with the same code and the same field named."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import ClientFactory

LONG_CURSOR = "x" * 501

# (GraphQL list, its filter input type or None, GraphQL arguments, REST path, REST params, field)
CASES: list[tuple[str, str | None, dict[str, Any], str, dict[str, Any], str]] = [
    ("families", "FamilyFilterInput", {"name": "x" * 101}, "/api/v1/kpm", {"name": "x" * 101},
     "name"),
    ("families", "FamilyFilterInput", {"name": "x"}, "/api/v1/kpm", {"name": "x"}, "name"),
    ("families", "FamilyFilterInput", {"nik": "33280214046351021"}, "/api/v1/kpm",
     {"nik": "33280214046351021"}, "nik"),
    ("families", "FamilyFilterInput", {"noKk": "332802"}, "/api/v1/kpm", {"no_kk": "332802"},
     "no_kk"),
    ("families", "FamilyFilterInput", {"program": "P" * 21}, "/api/v1/kpm", {"program": "P" * 21},
     "program"),
    ("families", "FamilyFilterInput", {"desil": 11}, "/api/v1/kpm", {"desil": 11}, "desil"),
    ("kubeGroups", "KubeGroupFilterInput", {"name": "k" * 101}, "/api/v1/kube",
     {"name": "k" * 101}, "name"),
    ("trainingCohorts", "TrainingCohortFilterInput", {"program": "P" * 21},
     "/api/v1/training-cohorts", {"program": "P" * 21}, "program"),
    ("allocations", "AllocationFilterInput", {"fiscalYear": 1999}, "/api/v1/allocations",
     {"fiscal_year": 1999}, "fiscal_year"),
    ("disbursements", "DisbursementFilterInput", {"period": "2026-Q5"}, "/api/v1/disbursements",
     {"period": "2026-Q5"}, "period"),
    ("disbursements", "DisbursementFilterInput", {"externalReference": "r" * 65},
     "/api/v1/disbursements", {"external_reference": "r" * 65}, "external_reference"),
    ("regions", None, {"name": "n" * 101}, "/api/v1/regions", {"name": "n" * 101}, "name"),
    ("programs", None, {"cursor": LONG_CURSOR}, "/api/v1/programs", {"cursor": LONG_CURSOR},
     "cursor"),
    ("families", None, {"cursor": LONG_CURSOR}, "/api/v1/kpm", {"cursor": LONG_CURSOR}, "cursor"),
]  # fmt: skip


def _query(field: str, filter_type: str | None, arguments: dict[str, Any]) -> tuple[str, Any]:
    selection = "{ nextCursor }"
    if filter_type is not None:
        return f"query($f: {filter_type}) {{ {field}(filter: $f) {selection} }}", {"f": arguments}
    (name,) = arguments
    return f"query($v: String) {{ {field}({name}: $v) {selection} }}", {"v": arguments[name]}


@pytest.mark.parametrize(("field", "filter_type", "arguments", "path", "params", "named"), CASES)
async def test_both_doors_refuse_the_same_value(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    field: str,
    filter_type: str | None,
    arguments: dict[str, Any],
    path: str,
    params: dict[str, Any],
    named: str,
) -> None:
    client = await clients(region="33.28")
    query, variables = _query(field, filter_type, arguments)
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=client.headers
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "validation_failed", error
    graphql_refusals = [(e["field"], e["code"]) for e in error["extensions"]["errors"]]
    assert [field for field, _ in graphql_refusals] == [named]

    rest = await http.get(path, params=params, headers=client.headers)
    assert rest.status_code == 422, rest.text
    assert rest.json()["code"] == "validation_failed"
    assert [(e["field"], e["code"]) for e in rest.json()["errors"]] == graphql_refusals


async def test_values_within_the_bounds_are_listed(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region="33.28")
    query = "query($f: FamilyFilterInput) { families(filter: $f) { items { id } } }"
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": {"f": {"name": "x" * 100, "desil": 10}}},
        headers=client.headers,
    )
    assert response.json() == {"data": {"families": {"items": []}}}
