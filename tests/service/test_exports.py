"""The file writers alone: a list longer than a worksheet goes on to the next sheet with its own
header row, an empty list is still a file with its header, and cells keep their types."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import AsyncIterator

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from service import exports
from service.exports import Chunk, write_file

KEYS = ("name", "amount", "paid_on", "active")
ROWS = [
    ("Siti", 2_500_000, dt.date(2026, 3, 2), True),
    ("=SUM(A1)", 0, None, False),
    ("Budi", 20_000_000, dt.date(2026, 3, 3), None),
]


async def _chunks(*chunks: Chunk) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk


async def _file(file_format: exports.FileFormat, *chunks: Chunk) -> bytes:
    parts = write_file(file_format, KEYS, ["nama", *KEYS[1:]], _chunks(*chunks), sheet="kas")
    return b"".join([part async for part in parts])


async def test_a_long_list_goes_on_to_the_next_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 3)  # the header and two rows a sheet

    book = load_workbook(io.BytesIO(await _file("xlsx", ROWS[:2], ROWS[2:])))

    assert book.sheetnames == ["kas", "kas (2)"]
    first, second = (list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets)
    assert first[0] == second[0] == ("nama", "amount", "paid_on", "active")
    assert [row[0] for row in first[1:] + second[1:]] == ["Siti", "=SUM(A1)", "Budi"]


async def test_cells_keep_their_types() -> None:
    book = load_workbook(io.BytesIO(await _file("xlsx", ROWS)))
    siti, formula, budi = book.worksheets[0].iter_rows(min_row=2)

    assert [cell.value for cell in siti] == ["Siti", 2_500_000, dt.datetime(2026, 3, 2), True]
    assert formula[0].data_type == "s"
    assert formula[0].quotePrefix
    assert budi[3].value is None
    assert siti[2].number_format == "yyyy-mm-dd"


@pytest.mark.parametrize("file_format", ["csv", "ndjson", "xlsx"])
async def test_an_empty_list_is_a_file_with_its_header(file_format: exports.FileFormat) -> None:
    content = await _file(file_format)

    if file_format == "csv":
        assert content == b"nama,amount,paid_on,active\n"
    elif file_format == "ndjson":
        assert content == b""
    else:
        rows = list(load_workbook(io.BytesIO(content)).worksheets[0].iter_rows(values_only=True))
        assert rows == [("nama", "amount", "paid_on", "active")]


async def test_csv_and_ndjson_write_the_same_values() -> None:
    csv_text = (await _file("csv", ROWS)).decode()
    lines = [json.loads(line) for line in (await _file("ndjson", ROWS)).splitlines()]

    assert csv_text.splitlines()[1:] == [
        "Siti,2500000,2026-03-02,true",
        "'=SUM(A1),0,,false",
        "Budi,20000000,2026-03-03,",
    ]
    assert lines[0] == {"name": "Siti", "amount": 2500000, "paid_on": "2026-03-02", "active": True}
    assert lines[1]["name"] == "=SUM(A1)"  # data, not a spreadsheet: no apostrophe
