"""Lists and reports as files the offices open: CSV, NDJSON and XLSX, written chunk by chunk so
that memory stays flat whatever the length of the list.

One machinery for every export. A source yields chunks of rows (tuples of plain values: text,
whole numbers, decimals, booleans, dates, times, ids, ``None``), fetched a page or a cursor
partition at a time; ``write_file`` turns them into the bytes of the file. The source decides
what a caller may see (region, scope, masking, audit), exactly as its list does; the writer only
writes.

- CSV: a header line, then one line per row; a text that a spreadsheet would run as a formula
  gets a leading apostrophe (``service.spreadsheets.safe_cell``).
- NDJSON: one JSON object per row, keyed by the English column names (the list's JSON field
  names), whatever the language of the headers.
- XLSX: XlsxWriter in ``constant_memory`` mode (each row goes to a temporary file as soon as it
  is written, as the XML XlsxWriter's cell API would write: see ``_Sheets``), typed cells
  (numbers, dates, booleans; NIK and No KK stay text, so no digit is lost), a bold frozen
  header row. Text is never read as a formula, a number or a link; a text that looks like a
  formula is stored with Excel's quote prefix, so that editing the cell keeps it text. The
  workbook is assembled in a temporary file at the end and then streamed; a list past the
  sheet's 1,048,576 rows continues on a second sheet, with its own header row.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal

import anyio
import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from xlsxwriter import Workbook  # type: ignore[import-untyped]
from xlsxwriter.utility import xl_col_to_name  # type: ignore[import-untyped]
from xlsxwriter.worksheet import Worksheet  # type: ignore[import-untyped]
from xlsxwriter.xmlwriter import XMLwriter  # type: ignore[import-untyped]

from service.pagination import MAX_LIMIT
from service.spreadsheets import FORMULA_STARTS, safe_cell

FileFormat = Literal["csv", "ndjson", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

Row = Sequence[Any]
Chunk = Sequence[Row]

XLSX_MAX_ROWS = 1_048_576  # a worksheet's rows, the header included
XLSX_READ_BYTES = 1 << 16
_SHEET_NAME_MAX = 31


def plain(value: Any) -> Any:
    """A presented value as the writers take it: enums by their value, ids as text."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


async def write_file(
    file_format: FileFormat,
    keys: Sequence[str],
    headers: Sequence[str],
    chunks: AsyncIterator[Chunk],
    *,
    sheet: str,
) -> AsyncIterator[bytes]:
    """The file of ``chunks``: ``keys`` name the columns in NDJSON, ``headers`` head them in CSV
    and XLSX (in the caller's language); ``sheet`` names the XLSX worksheet."""
    if file_format == "csv":
        yield _csv_lines([headers])
        async for chunk in chunks:
            yield _csv_lines(chunk)
    elif file_format == "ndjson":
        async for chunk in chunks:
            yield _ndjson_lines(keys, chunk)
    else:
        async for part in _xlsx(headers, chunks, sheet):
            yield part


# --- CSV and NDJSON ----------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return safe_cell(value) if value else value
    if value is None:
        return ""
    if kind is int or kind is float:
        return value
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    return plain(value)


def _csv_lines(rows: Chunk) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    cell = _csv_cell
    writer.writerows([cell(value) for value in row] for row in rows)
    return out.getvalue().encode()


def _ndjson_lines(keys: Sequence[str], rows: Chunk) -> bytes:
    return b"".join(
        orjson.dumps(dict(zip(keys, row, strict=True)), option=orjson.OPT_APPEND_NEWLINE)
        for row in rows
    )


# --- XLSX --------------------------------------------------------------------------------------


class _Sheets:
    """A workbook written row by row, on as many sheets as the rows need.

    XlsxWriter's cell API costs about 15 microseconds a cell, fifteen times the CSV writer:
    the rows go instead straight into the worksheet's row file that ``constant_memory`` mode
    keeps (``row_data_fh``), as the very XML XlsxWriter writes there itself for the same cell
    (inline strings, numbers, booleans, styled dates; tests/service/test_exports.py holds the
    two equal), and the sheet's dimensions are set as its own writes set them. Everything else
    (the package, styles, column widths, frozen header) is XlsxWriter's. XlsxWriter is pinned
    to the version whose row file this matches."""

    def __init__(self, path: str, headers: Sequence[str], name: str) -> None:
        self.workbook = Workbook(
            path,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
                "tmpdir": os.path.dirname(path),
            },
        )
        self.headers = list(headers)
        self.name = name[:_SHEET_NAME_MAX]
        # Each cell opens as '<c r="B' + its row number.
        self.starts = [f'<c r="{xl_col_to_name(column)}' for column in range(len(self.headers))]
        bold = self.workbook.add_format({"bold": True})
        date = self.workbook.add_format({"num_format": "yyyy-mm-dd"})
        text = self.workbook.add_format({"quote_prefix": True})
        # A cell's style is its format's index in the workbook, as XlsxWriter writes it.
        self.bold = f' s="{bold._get_xf_index()}"'
        self.date = f' s="{date._get_xf_index()}"'
        self.text = f' s="{text._get_xf_index()}"'
        self.sheets = 0
        self.sheet: Worksheet = None
        self.row = XLSX_MAX_ROWS

    def _next_sheet(self) -> None:
        self.sheets += 1
        suffix = "" if self.sheets == 1 else f" ({self.sheets})"
        name = self.name[: _SHEET_NAME_MAX - len(suffix)] + suffix
        self.sheet = self.workbook.add_worksheet(name)
        for column, header in enumerate(self.headers):
            self.sheet.set_column(column, column, max(10, min(40, len(header) + 2)))
        self.sheet.freeze_panes(1, 0)
        self.row = 0
        self._write([self.headers], bold=True)

    def write(self, rows: Chunk) -> None:
        while rows:
            if self.row >= XLSX_MAX_ROWS:
                self._next_sheet()
            room = XLSX_MAX_ROWS - self.row
            self._write(rows[:room])
            rows = rows[room:]

    def _write(self, rows: Chunk, *, bold: bool = False) -> None:
        if not rows:
            return
        first = self.row
        starts = self.starts
        parts: list[str] = []
        add = parts.append
        for number in range(first + 1, first + 1 + len(rows)):
            n = str(number)
            add('<row r="' + n + '">')
            for start, value in zip(starts, rows[number - first - 1], strict=True):
                kind = type(value)
                if kind is str:
                    if not value:
                        continue
                    if bold or _SPECIAL_TEXT.search(value):
                        add(self._text(start + n + '"', value, bold=bold))
                    else:
                        add(start + n + '" t="inlineStr"><is><t>' + value + "</t></is></c>")
                elif value is None:
                    continue
                elif kind is int and -_EXACT < value < _EXACT:
                    add(start + n + '"><v>' + str(value) + "</v></c>")
                else:
                    add(self._other(start + n + '"', value))
            add("</row>")
        self.sheet.row_data_fh.write("".join(parts))
        self.row = first + len(rows)
        # The dimensions XlsxWriter's own writes would have recorded (the <dimension> element,
        # and whether the sheet has data at all).
        self.sheet._check_dimensions(first, 0)
        self.sheet._check_dimensions(self.row - 1, len(starts) - 1)
        self.sheet.previous_row = self.row - 1

    def _text(self, opened: str, value: str, *, bold: bool = False) -> str:
        """A text cell that needs more than the plain form: escaped, styled, preserved."""
        style = self.bold if bold else self.text if value.startswith(FORMULA_STARTS) else ""
        value = XMLwriter._escape_control_characters(value)
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        preserve = ' xml:space="preserve"' if value[0].isspace() or value[-1].isspace() else ""
        return f'{opened}{style} t="inlineStr"><is><t{preserve}>{value}</t></is></c>'

    def _other(self, opened: str, value: Any) -> str:
        if isinstance(value, bool):
            return f'{opened} t="b"><v>{int(value)}</v></c>'
        if isinstance(value, int | float):
            return f"{opened}><v>{value:.16G}</v></c>"
        if isinstance(value, dt.datetime):
            # Spreadsheets have no time zones: the instant as ISO 8601 text, offset kept.
            return self._text(opened, value.isoformat())
        if isinstance(value, dt.date):
            return f"{opened}{self.date}><v>{(value - _EXCEL_EPOCH).days}</v></c>"
        return self._text(opened, str(plain(value)))

    def close(self) -> None:
        if self.sheets == 0:
            self._next_sheet()  # an empty list is still a workbook with its header row
        self.workbook.close()


_EXCEL_EPOCH = dt.date(1899, 12, 30)  # day 0 of Excel's 1900 date system, as XlsxWriter counts
# Text that needs more than the plain inline form: a formula's first character (stored with
# the quote prefix), whitespace at either end (kept with xml:space), characters XML or Excel
# escape.
_SPECIAL_TEXT = re.compile(r"^[=+\-@\s]|\s$|[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
# Whole numbers below this are written as they are; XlsxWriter writes larger ones in E notation.
_EXACT = 10**16


async def _xlsx(
    headers: Sequence[str], chunks: AsyncIterator[Chunk], name: str
) -> AsyncIterator[bytes]:
    with tempfile.TemporaryDirectory(prefix="dinsos-export-") as folder:
        path = os.path.join(folder, "export.xlsx")
        sheets = _Sheets(path, headers, name)
        # Writing a chunk is pure Python work: a worker thread does it, so the event loop keeps
        # serving other requests meanwhile. One chunk at a time, so the workbook is never
        # touched by two threads at once.
        async for chunk in chunks:
            await anyio.to_thread.run_sync(sheets.write, chunk)
        await anyio.to_thread.run_sync(sheets.close)
        with open(path, "rb") as handle:  # noqa: ASYNC230 - one local read at a time
            while part := await anyio.to_thread.run_sync(handle.read, XLSX_READ_BYTES):
                yield part


# --- sources -----------------------------------------------------------------------------------


PageFetch = Callable[[AsyncSession, str | None], Awaitable[tuple[list[Row], str | None]]]
PAGE_SIZE = MAX_LIMIT


async def list_pages(
    sessions: async_sessionmaker[AsyncSession],
    fetch: PageFetch,
    first: list[Row],
    cursor: str | None,
) -> AsyncIterator[Chunk]:
    """The rows of a list: ``first``, the page read while the request could still be refused
    (a scope, a region, a filter) with a problem response, then the pages after ``cursor``
    (keyset pages of the list's own query, the largest it allows) in one read transaction of
    their own. ``fetch(session, cursor)`` reads one page through the list's service function
    and presents it; it answers the rows and the next cursor."""
    yield first
    if cursor is None:
        return
    async with sessions() as session, session.begin():
        while cursor is not None:
            rows, cursor = await fetch(session, cursor)
            yield rows
