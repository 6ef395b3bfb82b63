"""Every list as a file: each export, downloaded in each format and read back, holds exactly the
list's JSON under the same filter (flattened: nested objects as prefixed columns, nested lists
as a count and joined values); headers in Indonesian on request; a refusal is a problem
response, not a cut download."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from api.i18n import COLUMN_HEADERS_ID
from tests.api.export_files import FORMATS, flat, normalized, parsed
from tests.api.kube_setup import active_group, create_group, families
from tests.api.training_setup import create_cohort, enrol, people
from tests.factories import (
    ClientFactory,
    IssuedClient,
    grant_body,
    new_allocation,
    new_disbursement,
)

REGENCY = "33.26"  # Kabupaten Pekalongan
DISTRICT = "33.26.05"
VILLAGE = "33.26.05.2006"  # Banjarsari: no other test's records


@dataclass
class Case:
    list_path: str
    export_path: str
    params: dict[str, str]
    flatten: Callable[[dict[str, Any]], dict[str, str]] = field(default=flat)


async def _kube_groups(http: httpx.AsyncClient, client: IssuedClient) -> Case:
    await create_group(http, client, await families(http, client, 2, VILLAGE), village_code=VILLAGE)
    await create_group(http, client, [], village_code=VILLAGE, name="=1+1 KUBE")

    def flatten(group: dict[str, Any]) -> dict[str, str]:
        members = [f"{m['family_id']}:{m['role']}" for m in group["members"]]
        return flat(group, member_count=len(members), members=";".join(members))

    return Case("/api/v1/kube", "/api/v1/kube/export", {"village_code": VILLAGE}, flatten)


async def _kube_grants(http: httpx.AsyncClient, client: IssuedClient) -> Case:
    for amount in (20_000_000, 15_000_000):
        group = await active_group(http, client, VILLAGE)
        body = grant_body(group["id"], amount=amount)
        made = await http.post("/api/v1/kube-grants", json=body, headers=client.headers)
        assert made.status_code == 201, made.text
    params = {"region": VILLAGE, "status": "proposed"}
    return Case("/api/v1/kube-grants", "/api/v1/kube-grants/export", params)


async def _cohorts(http: httpx.AsyncClient, client: IssuedClient) -> Case:
    for _ in range(2):
        await create_cohort(http, client, region=DISTRICT)

    def flatten(cohort: dict[str, Any]) -> dict[str, str]:
        days = [item["held_on"] for item in cohort["sessions"]]
        return flat(cohort, session_count=len(days), session_dates=";".join(days))

    path = "/api/v1/training-cohorts"
    return Case(path, f"{path}/export", {"region": DISTRICT, "program": "PK3E"}, flatten)


async def _participants(http: httpx.AsyncClient, client: IssuedClient) -> Case:
    cohort = await create_cohort(http, client, region=DISTRICT)
    members = await people(http, client, 1, VILLAGE)
    assessed = await enrol(
        http, client, cohort["id"], members[0], assessment={"needs": "Mesin jahit"}
    )
    assert assessed.status_code == 201, assessed.text
    assert (await enrol(http, client, cohort["id"], members[1])).status_code == 201
    nested = {
        "assessment": ("needs", "business_potential", "notes"),
        "outcome": ("started_business", "business_kind"),
    }
    path = f"/api/v1/training-cohorts/{cohort['id']}/participants"
    return Case(path, f"{path}/export", {}, lambda item: flat(item, nested))


async def _allocations(http: httpx.AsyncClient, client: IssuedClient) -> Case:
    for source in ("APBD_KABKOTA", "APBN"):
        await new_allocation(
            http, client, region_code=REGENCY, fiscal_year=2031, funding_source=source
        )
    params = {"region": REGENCY, "fiscal_year": "2031"}
    return Case("/api/v1/allocations", "/api/v1/allocations/export", params)


async def _disbursements(http: httpx.AsyncClient, client: IssuedClient) -> Case:
    allocation = await new_allocation(http, client, region_code=REGENCY, fiscal_year=2032)
    for family in await families(http, client, 2, VILLAGE):
        await new_disbursement(http, client, allocation["id"], family, period="2032-Q1")
    params = {"allocation_id": allocation["id"]}
    return Case("/api/v1/disbursements", "/api/v1/disbursements/export", params)


async def _facilitators(http: httpx.AsyncClient, client: IssuedClient) -> Case:
    for name in ("Ani Rahayu", "@SUM(A1:A9) Budi"):
        made = await http.post(
            "/api/v1/facilitators",
            json={"name": name, "kind": "PKH", "region_code": DISTRICT, "yearly_target": 5},
            headers=client.headers,
        )
        assert made.status_code == 201, made.text
    params = {"region": DISTRICT, "active": "true"}
    return Case("/api/v1/facilitators", "/api/v1/facilitators/export", params)


LISTS: dict[str, Callable[[httpx.AsyncClient, IssuedClient], Awaitable[Case]]] = {
    "kube groups": _kube_groups,
    "kube grants": _kube_grants,
    "training cohorts": _cohorts,
    "participants": _participants,
    "allocations": _allocations,
    "disbursements": _disbursements,
    "facilitators": _facilitators,
}


async def _listed(http: httpx.AsyncClient, client: IssuedClient, case: Case) -> list[Any]:
    params = case.params if "participants" in case.list_path else {**case.params, "limit": "500"}
    body = (await http.get(case.list_path, params=params, headers=client.headers)).json()
    items = body if isinstance(body, list) else body["items"]
    assert isinstance(body, list) or body["next_cursor"] is None
    return list(items)


@pytest.mark.parametrize("kind", LISTS)
async def test_each_format_holds_the_lists_records(
    http: httpx.AsyncClient, clients: ClientFactory, kind: str
) -> None:
    client = await clients(region=REGENCY)
    case = await LISTS[kind](http, client)
    listed = await _listed(http, client, case)
    assert len(listed) >= 2
    expected = normalized([case.flatten(item) for item in listed])

    for file_format in FORMATS:
        exported = await http.get(
            case.export_path, params={**case.params, "format": file_format}, headers=client.headers
        )
        headers, rows = parsed(exported, file_format)
        assert headers == list(expected[0]), file_format
        assert normalized(rows) == expected, file_format  # the same records, in the same order


@pytest.mark.parametrize("kind", LISTS)
async def test_indonesian_headers(
    http: httpx.AsyncClient, clients: ClientFactory, kind: str
) -> None:
    client = await clients(region=REGENCY)
    case = await LISTS[kind](http, client)
    indonesian = {**client.headers, "Accept-Language": "id"}

    english, _ = parsed(
        await http.get(case.export_path, params=case.params, headers=client.headers), "csv"
    )
    for file_format in ("csv", "xlsx"):
        exported = await http.get(
            case.export_path, params={**case.params, "format": file_format}, headers=indonesian
        )
        headers, _ = parsed(exported, file_format)
        assert [COLUMN_HEADERS_ID[key] for key in english] == headers  # each one translated
        assert headers[:4] == ["id", "dibuat_pada", "diubah_pada", "versi"]


async def test_the_formula_guard_holds_in_every_csv(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region=REGENCY)
    for setup in (_kube_groups, _facilitators):
        case = await setup(http, client)
        exported = await http.get(case.export_path, params=case.params, headers=client.headers)
        cells = [cell for line in exported.text.splitlines()[1:] for cell in line.split(",")]
        assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]
        assert any(cell.startswith(("'=", "'@")) for cell in cells)


async def test_a_refusal_is_a_problem_not_a_file(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    reader = await clients(region=REGENCY, scopes=["kpm:read"])
    refused = await http.get(
        "/api/v1/kube/export", params={"format": "xlsx"}, headers=reader.headers
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "insufficient_scope"

    client = await clients(region=REGENCY)
    for params in ({"format": "pdf"}, {"region": "33.2x"}, {"updated_since": "1700000000"}):
        bad = await http.get("/api/v1/allocations/export", params=params, headers=client.headers)
        assert bad.status_code == 422, params
        assert bad.json()["errors"][0]["field"] in {"format", "region", "updated_since"}


async def test_an_export_past_one_page_holds_every_record(
    http: httpx.AsyncClient, clients: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of two: the file is read in three pages, each after the previous one's cursor.
    monkeypatch.setattr("api.rest.allocations.PAGE_SIZE", 2)
    client = await clients(region=REGENCY)
    for year in range(2033, 2038):
        await new_allocation(http, client, region_code=REGENCY, fiscal_year=year)
    params = {"region": REGENCY, "updated_since": "2000-01-01T00:00:00Z"}
    listed = (
        await http.get(
            "/api/v1/allocations", params={**params, "limit": "500"}, headers=client.headers
        )
    ).json()["items"]

    _, rows = parsed(
        await http.get(
            "/api/v1/allocations/export",
            params={**params, "format": "ndjson"},
            headers=client.headers,
        ),
        "ndjson",
    )

    assert [row["id"] for row in rows] == [item["id"] for item in listed]
    assert len(rows) >= 5
