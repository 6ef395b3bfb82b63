"""Every report as a file: `format=csv`, `ndjson` or `xlsx` holds the JSON report's rows, headed
in Indonesian on request."""

from __future__ import annotations

import httpx
import pytest

from api.i18n import COLUMN_HEADERS_ID
from tests.api.export_files import FORMATS, flat, normalized, parsed
from tests.api.kube_setup import create_group, families
from tests.api.training_setup import create_cohort
from tests.factories import ClientFactory, IssuedClient, new_allocation

REGENCY = "33.26"  # Kabupaten Pekalongan
DISTRICT = "33.26.05"
VILLAGE = "33.26.05.2007"  # Kalirejo: no other test's records
REPORTS = [
    "verification-funnel",
    "graduations",
    "training-completion",
    "kube",
    "budget-realisation",
]


async def _records(http: httpx.AsyncClient, client: IssuedClient) -> None:
    """Something for each report to count."""
    group = await families(http, client, 2, VILLAGE)
    await create_group(http, client, group, village_code=VILLAGE)
    await create_cohort(http, client, region=DISTRICT)
    await new_allocation(http, client, region_code=REGENCY, fiscal_year=2030)
    made = await http.post(
        "/api/v1/facilitators",
        json={"name": "=Ani Rahayu", "kind": "PKH", "region_code": DISTRICT, "yearly_target": 5},
        headers=client.headers,
    )
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("report", REPORTS)
async def test_each_format_holds_the_reports_rows(
    http: httpx.AsyncClient, clients: ClientFactory, report: str
) -> None:
    client = await clients(region=REGENCY)
    await _records(http, client)
    url = f"/api/v1/reports/{report}"
    params = {"region": DISTRICT if report != "budget-realisation" else REGENCY}

    answer = await http.get(url, params=params, headers=client.headers)
    assert answer.status_code == 200, answer.text
    expected = normalized([flat(row) for row in answer.json()["rows"]])
    assert expected

    for file_format in FORMATS:
        exported = await http.get(
            url, params={**params, "format": file_format}, headers=client.headers
        )
        assert exported.headers["content-disposition"].endswith(
            f'-{params["region"].replace(".", "")}.{file_format}"'
        )
        headers, rows = parsed(exported, file_format)
        assert headers == list(expected[0]), file_format
        assert normalized(rows) == expected, file_format

    indonesian = await http.get(
        url,
        params={**params, "format": "xlsx"},
        headers={**client.headers, "Accept-Language": "id"},
    )
    assert parsed(indonesian, "xlsx")[0] == [COLUMN_HEADERS_ID[key] for key in expected[0]]


async def test_a_report_csv_runs_no_formula(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region=REGENCY)
    await _records(http, client)
    exported = await http.get(
        "/api/v1/reports/graduations",
        params={"region": DISTRICT, "format": "csv"},
        headers=client.headers,
    )
    assert "'=Ani Rahayu" in exported.text
    assert ",=Ani" not in exported.text
