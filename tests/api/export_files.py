"""Reading exported files back as an office would: CSV with the csv module, NDJSON line by line,
XLSX with openpyxl (XlsxWriter only writes). Each gives the header row and the rows as
dictionaries of text, so that the three formats and the list's JSON compare alike."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

import httpx
from openpyxl import load_workbook  # type: ignore[import-untyped]

from service.spreadsheets import read_cell

FORMATS = ("csv", "ndjson", "xlsx")
WHOLE = re.compile(r"-?\d+\.0")
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def text(value: Any) -> str:
    """A value as the CSV writes it: what the comparisons compare."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime) and value.time() == dt.time(0) and value.tzinfo is None:
        return value.date().isoformat()  # an XLSX date cell
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parsed(response: httpx.Response, file_format: str) -> tuple[list[str], list[dict[str, str]]]:
    """(headers, rows) of a downloaded file; NDJSON has no header row: its keys stand in."""
    assert response.status_code == 200, response.text
    if file_format == "csv":
        assert response.headers["content-type"].startswith("text/csv")
        reader = csv.reader(io.StringIO(response.text))
        headers = next(reader)
        rows = [
            dict(zip(headers, [read_cell(cell) for cell in row], strict=True)) for row in reader
        ]
        return headers, rows
    if file_format == "ndjson":
        assert response.headers["content-type"].startswith("application/x-ndjson")
        items = [json.loads(line) for line in response.text.splitlines()]
        headers = list(items[0]) if items else []
        return headers, [{key: text(value) for key, value in item.items()} for item in items]
    assert response.headers["content-type"] == XLSX_MEDIA
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    table = list(sheet.iter_rows(values_only=True))
    headers = [str(cell) for cell in table[0]]
    return headers, [
        dict(zip(headers, [text(cell) for cell in row], strict=True)) for row in table[1:]
    ]


def flat(
    item: dict[str, Any], nested: dict[str, tuple[str, ...]] | None = None, **lists: Any
) -> dict[str, str]:
    """A list's JSON item as the export's row: scalars as text, the fields of a nested object
    (``nested``: its name -> its fields) prefixed with its name, nested lists left to ``lists``
    (column -> value)."""
    nested = nested or {}
    row: dict[str, str] = {}
    for key, value in item.items():
        if key in nested:
            row.update({f"{key}_{sub}": text((value or {}).get(sub)) for sub in nested[key]})
        elif not isinstance(value, list):
            row[key] = text(value)
    row.update({key: text(value) for key, value in lists.items()})
    return row


def same_instant(left: str, right: str) -> bool:
    return dt.datetime.fromisoformat(left) == dt.datetime.fromisoformat(right)


def normalized(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Values written alike in other spellings made equal: times (`Z`, `+00:00`), whole
    decimals (`0.0` in CSV, `0` from a spreadsheet's number)."""
    out = []
    for row in rows:
        copy = {key: value[:-2] if WHOLE.fullmatch(value) else value for key, value in row.items()}
        for key in ("created_at", "updated_at"):
            if copy.get(key):
                copy[key] = dt.datetime.fromisoformat(copy[key]).isoformat()
        out.append(copy)
    return out
