"""Reading import files: the canonical CSV (one row per person; English or Indonesian headers;
UTF-8 with or without BOM; LF or CRLF; quoted fields) and NDJSON (one person per line), grouped
into families. Streams: a file of any size is read with constant memory."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from service.errors import FieldError, ValidationFailed
from service.kpm.validation import FamilyDraft, MemberDraft
from service.spreadsheets import read_cell

FIELDS = (
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
)
REQUIRED = frozenset(FIELDS) - {"address", "desil", "programs"}
ALIASES = {
    "nama": "name",
    "hubungan": "relationship",
    "shdk": "relationship",
    "jenis_kelamin": "sex",
    "tanggal_lahir": "birth_date",
    "kode_desa": "village_code",
    "alamat": "address",
    "program": "programs",
    "nomor_kk": "no_kk",
    "no_kk": "no_kk",
}


@dataclass
class Row:
    line: int
    values: dict[str, str]


@dataclass
class FamilyRows:
    no_kk: str
    rows: list[Row] = field(default_factory=list)

    @property
    def lines(self) -> list[int]:
        return [row.line for row in self.rows]


def header_fields(raw_header: list[str]) -> list[str]:
    """Canonical names of a header row; a missing required column is refused up front."""
    names = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in raw_header]
    missing = sorted(REQUIRED - set(names))
    if missing:
        raise ValidationFailed(
            f"The file lacks the columns: {', '.join(missing)}.",
            code="invalid_file",
            errors=[FieldError(name, "missing_column", "Required column.") for name in missing],
        )
    return names


def _text(handle: IO[bytes]) -> io.TextIOWrapper:
    # utf-8-sig drops a BOM when there is one; newline="" lets csv see CRLF inside quotes.
    return io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="")


def csv_rows(handle: IO[bytes]) -> Iterator[Row]:
    reader = csv.reader(_text(handle))
    try:
        header = next(reader)
    except StopIteration:
        return
    names = header_fields(header)
    start = reader.line_num
    for values in reader:
        line = start + 1  # where the record begins (a quoted field may span lines)
        start = reader.line_num
        if not any(value.strip() for value in values):
            continue
        # Our own exports escape what a spreadsheet would run as a formula: undone here.
        yield Row(
            line, {name: read_cell(value) for name, value in zip(names, values, strict=False)}
        )


def ndjson_rows(handle: IO[bytes]) -> Iterator[Row]:
    checked = False
    for number, raw in enumerate(_text(handle), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            item = None
        if not isinstance(item, dict):
            yield Row(number, {"__invalid__": "Not a JSON object."})
            continue
        values = {
            ALIASES.get(str(k).lower(), str(k).lower()): "" if v is None else str(v)
            for k, v in item.items()
        }
        if not checked:
            header_fields(list(values))
            checked = True
        yield Row(number, values)


def check_header(first: bytes, file_format: str) -> None:
    """Refuse a file with missing columns before any job is started, from its first bytes
    (the first stored piece: a header is far shorter)."""
    handle = io.BytesIO(first)
    if file_format == "csv":
        line = _text(handle).readline()
        if line.strip():
            header_fields(next(csv.reader([line])))
    else:
        next(ndjson_rows(handle), None)


def families_in(rows: Iterator[Row]) -> Iterator[FamilyRows]:
    """Consecutive rows with the same No KK form a family."""
    current: FamilyRows | None = None
    for row in rows:
        no_kk = row.values.get("no_kk", "").strip()
        if current is None or no_kk != current.no_kk:
            if current is not None:
                yield current
            current = FamilyRows(no_kk)
        current.rows.append(row)
    if current is not None:
        yield current


def _date(value: str) -> dt.date | None:
    value = value.strip()
    try:
        return dt.date.fromisoformat(value)  # the canonical form, and 20x faster than strptime
    except ValueError:
        pass
    for pattern in ("%d-%m-%Y", "%d/%m/%Y"):  # as Indonesian spreadsheets write dates
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    return None


def draft_of(family: FamilyRows) -> FamilyDraft:
    """The family as the rules see it. Family fields come from its first row."""
    first = family.rows[0].values
    unparsed: dict[str, str] = {}
    desil_text = first.get("desil", "").strip()
    desil: int | None = None
    if desil_text:
        if desil_text.isdigit():
            desil = int(desil_text)
        else:
            unparsed["desil"] = "desil is a whole number 1 to 10."
    if any("__invalid__" in row.values for row in family.rows):
        unparsed["row"] = "A line is not a JSON object."
    programs = [
        code.strip().upper()
        for code in first.get("programs", "").replace(",", ";").split(";")
        if code.strip()
    ]
    members = [
        MemberDraft(
            nik=row.values.get("nik", "").strip(),
            name=row.values.get("name", "").strip(),
            sex=row.values.get("sex", "").strip().upper(),
            birth_date=_date(row.values.get("birth_date", "")),
            relationship=row.values.get("relationship", "").strip().upper(),
            line=row.line,
        )
        for row in family.rows
    ]
    return FamilyDraft(
        no_kk=family.no_kk,
        village_code=first.get("village_code", "").strip(),
        address=first.get("address", "").strip() or None,
        desil=desil,
        members=members,
        programs=programs,
        unparsed=unparsed,
    )
