"""The families' export (one line per person: the members across families) in its three
formats: the same people as the list's JSON under the same filter, masked without `pii:read`,
audited with it, headed in Indonesian on request, and never a formula in a spreadsheet."""

from __future__ import annotations

import io

import httpx
import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncSession

from service.kpm.import_files import csv_rows
from tests.api.export_files import FORMATS, parsed
from tests.api.test_kpm_export_audit import reads_of
from tests.factories import ClientFactory, IssuedClient, family_body

VILLAGE = "33.26.05.2005"  # Talun, Kabupaten Pekalongan: no other test's families
FIELDS = [
    "no_kk",
    "nik",
    "name",
    "relationship",
    "sex",
    "birth_date",
    "village_code",
    "address",
    "desil",
    "programs",
]
INDONESIAN = [
    "no_kk",
    "nik",
    "nama",
    "hubungan",
    "jenis_kelamin",
    "tanggal_lahir",
    "kode_desa",
    "alamat",
    "desil",
    "program",
]


async def _families(http: httpx.AsyncClient, writer: IssuedClient, count: int) -> None:
    for index in range(count):
        body = family_body(VILLAGE, desil=index % 4 + 1)
        response = await http.post("/api/v1/kpm", json=body, headers=writer.headers)
        assert response.status_code == 201, response.text


def _people(listed: dict[str, object]) -> list[dict[str, str]]:
    """The list's JSON as the export's lines."""
    lines = []
    for family in listed["items"]:  # type: ignore[attr-defined]
        programs = ";".join(sorted(e["program_code"] for e in family["enrollments"]))
        for member in family["members"]:
            lines.append(
                {
                    "no_kk": family["no_kk"],
                    "nik": member["nik"],
                    "name": member["name"],
                    "relationship": member["relationship"],
                    "sex": member["sex"],
                    "birth_date": member["birth_date"],
                    "village_code": family["village_code"],
                    "address": family["address"] or "",
                    "desil": "" if family["desil"] is None else str(family["desil"]),
                    "programs": programs,
                }
            )
    return sorted(lines, key=lambda line: (line["no_kk"], line["nik"]))


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("scopes", [["kpm:read"], ["kpm:read", "pii:read"]])
async def test_the_file_holds_the_lists_people_masked_as_the_list_is(
    http: httpx.AsyncClient, clients: ClientFactory, file_format: str, scopes: list[str]
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    await _families(http, writer, 4)
    reader = await clients(region=VILLAGE, scopes=scopes)
    query = {"village_code": VILLAGE, "desil": "2"}

    listed = await http.get("/api/v1/kpm", params=query, headers=reader.headers)
    exported = await http.get(
        "/api/v1/kpm/export", params={**query, "format": file_format}, headers=reader.headers
    )

    headers, rows = parsed(exported, file_format)
    assert headers == FIELDS
    assert sorted(rows, key=lambda line: (line["no_kk"], line["nik"])) == _people(listed.json())
    assert len(rows) == 3  # one family of desil 2, three people
    masked = "pii:read" not in scopes
    assert all(row["nik"].endswith("*" * 10) is masked for row in rows)
    assert all(row["no_kk"].endswith("*" * 10) is masked for row in rows)


async def test_an_unmasked_spreadsheet_audits_each_family(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    await _families(http, writer, 2)
    reader = await clients(region=VILLAGE, scopes=["kpm:read", "pii:read"])
    listed = await http.get("/api/v1/kpm", params={"region": VILLAGE}, headers=writer.headers)

    exported = await http.get(
        "/api/v1/kpm/export", params={"format": "xlsx", "region": VILLAGE}, headers=reader.headers
    )

    assert exported.status_code == 200
    assert await reads_of(session, reader.client_id) == sorted(
        (family["id"], VILLAGE) for family in listed.json()["items"]
    )


async def test_indonesian_headers_and_the_csv_still_imports(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write", "pii:read"])
    await _families(http, client, 1)
    files = {
        file_format: await http.get(
            "/api/v1/kpm/export",
            params={"format": file_format, "region": VILLAGE},
            headers={**client.headers, "Accept-Language": "id"},
        )
        for file_format in FORMATS
    }

    assert parsed(files["csv"], "csv")[0] == INDONESIAN
    assert parsed(files["xlsx"], "xlsx")[0] == INDONESIAN
    assert parsed(files["ndjson"], "ndjson")[0] == FIELDS  # keys are the JSON's, not headers
    # The import reads the Indonesian headers: the file goes back in as it came out.
    imported = [row.values for row in csv_rows(io.BytesIO(files["csv"].content))]
    assert imported == parsed(files["ndjson"], "ndjson")[1]


async def test_a_spreadsheet_keeps_nik_and_formulas_as_text(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write", "pii:read"])
    body = family_body(VILLAGE, address='=HYPERLINK("http://evil.example")')
    body["members"][1]["name"] = "@SUM(A1:A9)"
    assert (await http.post("/api/v1/kpm", json=body, headers=client.headers)).status_code == 201

    exported = await http.get(
        "/api/v1/kpm/export",
        params={"format": "xlsx", "no_kk": body["no_kk"]},
        headers=client.headers,
    )

    sheet = load_workbook(io.BytesIO(exported.content)).worksheets[0]
    cells = {cell.value: cell for row in sheet.iter_rows(min_row=2) for cell in row}
    address = cells['=HYPERLINK("http://evil.example")']
    assert address.data_type == "s"  # text, not a formula
    assert address.quotePrefix  # and stays text when the cell is edited
    assert cells["@SUM(A1:A9)"].data_type == "s"
    nik = cells[body["members"][0]["nik"]]
    assert nik.data_type == "s"  # sixteen digits, none lost to a number's precision
    birth = next(iter(sheet.iter_rows(min_row=2, values_only=True)))[5]
    assert birth.date().isoformat() == body["members"][0]["birth_date"]  # a date cell
