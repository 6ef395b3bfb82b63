"""The file writers alone: a list longer than a worksheet goes on to the next sheet with its own
header row, an empty list is still a file with its header, and cells keep their types."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from xlsxwriter import Workbook  # type: ignore[import-untyped]

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


def test_the_rows_are_the_xml_xlsxwriters_own_api_writes(tmp_path: Path) -> None:
    """The fast path writes each row as XlsxWriter's cell API would: the same sheet XML."""
    rows = [
        *ROWS,
        ("  spaced ", -3, dt.date(1970, 1, 1), False),
        ("a & b <c> _x0041_ \x01", 2.5, None, True),
        ("-1+1", 10**17, None, None),
    ]
    headers = ["nama", *KEYS[1:]]
    fast = exports._Sheets(str(tmp_path / "fast.xlsx"), headers, "kas")
    fast.write(rows)
    fast.close()

    book = Workbook(
        str(tmp_path / "api.xlsx"),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    bold, date, text = (
        book.add_format(options)
        for options in ({"bold": True}, {"num_format": "yyyy-mm-dd"}, {"quote_prefix": True})
    )
    sheet = book.add_worksheet("kas")
    for column, header in enumerate(headers):
        sheet.set_column(column, column, max(10, min(40, len(header) + 2)))
    sheet.freeze_panes(1, 0)
    for column, header in enumerate(headers):
        sheet.write_string(0, column, header, bold)
    for number, values in enumerate(rows, start=1):
        for column, value in enumerate(values):
            if isinstance(value, str):
                quoted = value.startswith(("=", "+", "-", "@", "\t", "\r"))
                sheet.write_string(number, column, value, text if quoted else None)
            elif isinstance(value, bool):
                sheet.write_boolean(number, column, value)
            elif isinstance(value, int | float):
                sheet.write_number(number, column, value)
            elif isinstance(value, dt.date):
                sheet.write_datetime(number, column, value, date)
    book.close()

    def sheet_xml(name: str) -> bytes:
        with zipfile.ZipFile(tmp_path / name) as package:
            return package.read("xl/worksheets/sheet1.xml")

    assert sheet_xml("fast.xlsx") == sheet_xml("api.xlsx")
