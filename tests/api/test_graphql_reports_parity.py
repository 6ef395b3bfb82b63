"""The five reports through GraphQL give REST's figures, row for row, and refuse what REST
refuses with the same code."""

from __future__ import annotations

import httpx
import pytest

from tests.api.graphql_calls import error_code, gql
from tests.api.kube_setup import active_group
from tests.factories import (
    ClientFactory,
    IssuedClient,
    family_body,
    grant_body,
    new_allocation,
)
from tests.factories import cohort_body as training_cohort

JATINEGARA = "33.28.07"  # a district of Kabupaten Tegal
VILLAGE = "33.28.07.2001"
FISCAL_YEAR = 2031  # a year of its own: no other test's allocation in it

# field -> (REST path, its GraphQL arguments besides region, the row fields to select)
REPORTS: dict[str, tuple[str, str, str]] = {
    "verificationFunnelReport": ("verification-funnel", "", "step families people"),
    "graduationsReport": (
        "graduations",
        "year: 2026",
        "facilitatorId name kind regionCode yearlyTarget graduated mandiri alamiah verval "
        "targetReachedPct",
    ),
    "trainingCompletionReport": (
        "training-completion",
        'program: "PK3E"',
        "cohortId name programCode topic regionCode status firstSession sessions capacity "
        "participants completed completionPct startedBusiness",
    ),
    "kubeReport": ("kube", "", "record status count amount"),
    "budgetRealisationReport": (
        "budget-realisation",
        f"fiscalYear: {FISCAL_YEAR}",
        "allocationId programCode fiscalYear fundingSource regionCode amount committed "
        "confirmed remaining absorptionPct paymentsConfirmed",
    ),
}
REST_PARAMS = {
    "graduations": {"year": "2026"},
    "training-completion": {"program": "PK3E"},
    "budget-realisation": {"fiscal_year": str(FISCAL_YEAR)},
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def _world(http: httpx.AsyncClient, office: IssuedClient) -> None:
    """Something in every report of Jatinegara."""
    family = await http.post("/api/v1/kpm", json=family_body(VILLAGE), headers=office.headers)
    assert family.status_code == 201, family.text
    visit = await http.post(
        f"/api/v1/kpm/{family.json()['id']}/verifications",
        json={"visited_on": "2026-03-02", "outcome": "eligible"},
        headers=office.headers,
    )
    assert visit.status_code == 201, visit.text
    facilitator = await http.post(
        "/api/v1/facilitators",
        json={"name": "Pak Darto", "kind": "PKH", "region_code": JATINEGARA, "yearly_target": 4},
        headers=office.headers,
    )
    assert facilitator.status_code == 201, facilitator.text
    group = await active_group(http, office, VILLAGE)
    grant = await http.post(
        "/api/v1/kube-grants", json=grant_body(group["id"]), headers=office.headers
    )
    assert grant.status_code == 201, grant.text
    cohort = await http.post(
        "/api/v1/training-cohorts", json=training_cohort(JATINEGARA), headers=office.headers
    )
    assert cohort.status_code == 201, cohort.text
    # Allocations are a regency's: the budget report is read for all of Tegal.
    await new_allocation(http, office, fiscal_year=FISCAL_YEAR, amount=3_000_000_000)


@pytest.mark.parametrize("field", sorted(REPORTS))
async def test_graphql_reports_give_rests_rows(
    http: httpx.AsyncClient, clients: ClientFactory, field: str
) -> None:
    office = await clients(region="33.28")
    await _world(http, office)
    path, arguments, selection = REPORTS[field]
    region = "33.28" if path == "budget-realisation" else JATINEGARA
    rest = await http.get(
        f"/api/v1/reports/{path}",
        params={"region": region, **REST_PARAMS.get(path, {})},
        headers=office.headers,
    )
    assert rest.status_code == 200, rest.text
    extra = f", {arguments}" if arguments else ""
    result = await gql(
        http,
        office,
        f"""query($r: String) {{ {field}(region: $r{extra}) {{
            regionCode generatedAt rows {{ {selection} }} }} }}""",
        r=region,
    )
    assert "errors" not in result, result
    report = result["data"][field]
    assert report["regionCode"] == rest.json()["region_code"] == region
    expected = [{_camel(k): v for k, v in row.items()} for row in rest.json()["rows"]]
    assert report["rows"] == expected
    assert expected, "the world put something in each report"


async def test_a_report_on_another_region_is_not_found(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")
    for field, (path, _, selection) in REPORTS.items():
        rest = await http.get(
            f"/api/v1/reports/{path}", params={"region": "33.29"}, headers=office.headers
        )
        result = await gql(
            http,
            office,
            f'{{ {field}(region: "33.29") {{ rows {{ {selection.split()[0]} }} }} }}',
        )
        assert rest.status_code == 404, rest.text
        assert error_code(result) == rest.json()["code"] == "not_found"


async def test_report_arguments_have_rests_bounds(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")
    cases = [
        ("graduationsReport", "year: 1999", "graduations", {"year": "1999"}, "year"),
        ("kubeReport", f'program: "{"P" * 21}"', "kube", {"program": "P" * 21}, "program"),
        ("budgetRealisationReport", "fiscalYear: 2101", "budget-realisation",
         {"fiscal_year": "2101"}, "fiscal_year"),
    ]  # fmt: skip
    for field, arguments, path, params, named in cases:
        result = await gql(http, office, f"{{ {field}({arguments}) {{ regionCode }} }}")
        rest = await http.get(f"/api/v1/reports/{path}", params=params, headers=office.headers)
        assert rest.status_code == 422, rest.text
        assert error_code(result) == rest.json()["code"] == "validation_failed"
        assert [e["field"] for e in result["errors"][0]["extensions"]["errors"]] == [named]
    no_scope = await clients(region="33.28", scopes=["kpm:read"])
    refused = await gql(http, no_scope, "{ kubeReport { regionCode } }")
    rest = await http.get("/api/v1/reports/kube", headers=no_scope.headers)
    assert error_code(refused) == rest.json()["code"]
    assert rest.status_code == 403
