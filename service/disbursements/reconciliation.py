"""Reconciliation files from the bank or the post office: CSV lines of
``reference, status, amount, date`` that settle disbursements.

A line settles its disbursement only when everything agrees: a known reference (of a
disbursement the caller may see and pay), the same amount, and a status the disbursement may
move to. Anything else is reported with its line and changes nothing: an office must look at a
mismatch before money is counted as paid or freed. A line whose disbursement already has that
status is counted as unchanged, so a file uploaded twice settles nothing twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.disbursements import Mismatch, ReconciliationResult
from service.access import Caller
from service.allocations.tables import Allocation
from service.disbursements.queries import visible_disbursements
from service.disbursements.rules import WRITE_SCOPE, may_move
from service.disbursements.tables import Disbursement
from service.disbursements.transitions import Move, apply_moves
from service.errors import FieldError, ValidationFailed

MAX_BYTES = 20_000_000
MAX_LINES = 200_000

# Column names as banks and offices write them, English or Indonesian.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "reference": ("reference", "referensi", "no_referensi", "ref"),
    "status": ("status",),
    "amount": ("amount", "jumlah", "nominal"),
    "date": ("date", "tanggal"),
}
_STATUSES = {
    "confirmed": "confirmed",
    "berhasil": "confirmed",
    "failed": "failed",
    "gagal": "failed",
}


@dataclass(frozen=True)
class BankLine:
    line: int
    reference: str
    status: str
    amount: int
    on_date: dt.date


def read_lines(content: bytes) -> tuple[int, list[BankLine], list[Mismatch]]:
    """The file's data lines: how many, the well-formed ones, and why the others are not."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            errors=[FieldError("file", "not_utf8", "The file must be UTF-8 text.")]
        ) from None
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    # Spreadsheets set to Indonesian write semicolons.
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next((row for row in reader if any(cell.strip() for cell in row)), [])
    positions = _column_positions(header)
    count = 0
    lines: list[BankLine] = []
    mismatches: list[Mismatch] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        count += 1
        if count > MAX_LINES:
            raise ValidationFailed(
                errors=[FieldError("file", "too_many_lines", f"At most {MAX_LINES} lines.")]
            )
        parsed = _parse(reader.line_num, row, positions)
        if isinstance(parsed, Mismatch):
            mismatches.append(parsed)
        else:
            lines.append(parsed)
    return count, lines, mismatches


def _column_positions(header: list[str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    positions: dict[str, int] = {}
    errors: list[FieldError] = []
    for column, aliases in _COLUMNS.items():
        found = next((i for i, name in enumerate(names) if name in aliases), None)
        if found is None:
            errors.append(
                FieldError(column, "missing_column", f"The header has no '{column}' column.")
            )
        else:
            positions[column] = found
    if errors:
        raise ValidationFailed(
            "The file needs a header line: reference,status,amount,date.", errors=errors
        )
    return positions


def _parse(line: int, row: list[str], positions: dict[str, int]) -> BankLine | Mismatch:
    cells = {name: row[i].strip() if i < len(row) else "" for name, i in positions.items()}
    reference = cells["reference"] or None
    if reference is None or len(reference) > 64:
        return Mismatch(
            line=line, reference=None, code="invalid_reference", message="1 to 64 characters."
        )
    status = _STATUSES.get(cells["status"].lower())
    if status is None:
        return Mismatch(
            line=line,
            reference=reference,
            code="invalid_status",
            message="The status is confirmed or failed.",
        )
    if not (cells["amount"].isascii() and cells["amount"].isdigit()):
        return Mismatch(
            line=line,
            reference=reference,
            code="invalid_amount",
            message="The amount is a whole number of rupiah, digits only.",
        )
    try:
        on_date = dt.date.fromisoformat(cells["date"])
    except ValueError:
        return Mismatch(
            line=line, reference=reference, code="invalid_date", message="The date is YYYY-MM-DD."
        )
    return BankLine(line, reference, status, int(cells["amount"]), on_date)


async def reconcile(session: AsyncSession, caller: Caller, content: bytes) -> ReconciliationResult:
    caller.require(WRITE_SCOPE)
    count, lines, mismatches = read_lines(content)
    first_line: dict[str, int] = {}
    unique: list[BankLine] = []
    for line in lines:
        if line.reference in first_line:
            mismatches.append(
                Mismatch(
                    line=line.line,
                    reference=line.reference,
                    code="duplicate_line",
                    message=f"The reference is on line {first_line[line.reference]} already.",
                )
            )
        else:
            first_line[line.reference] = line.line
            unique.append(line)

    # Only disbursements the caller may see are found: the others read as unknown references.
    # Locked in id order (as every writer of several disbursements does) until we commit.
    query: Any = (
        visible_disbursements(caller)
        .with_only_columns(
            col(Disbursement.id),
            col(Disbursement.external_reference),
            col(Disbursement.status),
            col(Disbursement.amount),
            col(Disbursement.allocation_id),
            col(Disbursement.region_code),
            col(Allocation.region_code).label("allocation_region"),
        )
        .join(Allocation, col(Allocation.id) == col(Disbursement.allocation_id))
        .where(col(Disbursement.external_reference).in_([line.reference for line in unique]))
        .order_by(col(Disbursement.id))
        .with_for_update(of=Disbursement)
    )
    rows = [row._mapping for row in await session.execute(query)]
    found = {row["external_reference"]: row for row in rows}
    moves: list[Move] = []
    unchanged = 0
    for line in unique:
        judged = _judge(caller, line, found.get(line.reference))
        if isinstance(judged, Move):
            moves.append(judged)
        elif isinstance(judged, Mismatch):
            mismatches.append(judged)
        else:
            unchanged += 1
    await apply_moves(session, caller, moves)
    mismatches.sort(key=lambda item: item.line)
    return ReconciliationResult(
        lines=count,
        settled=len(moves),
        confirmed=sum(1 for move in moves if move.to_status == "confirmed"),
        failed=sum(1 for move in moves if move.to_status == "failed"),
        unchanged=unchanged,
        mismatched=len(mismatches),
        mismatches=mismatches,
    )


def _judge(caller: Caller, line: BankLine, row: RowMapping | None) -> Move | Mismatch | None:
    """The move a line asks for, the mismatch that stops it, or ``None``: nothing to do."""

    def mismatch(code: str, message: str) -> Mismatch:
        return Mismatch(line=line.line, reference=line.reference, code=code, message=message)

    if row is None:
        return mismatch("unknown_reference", "No disbursement with that reference.")
    if not (caller.can_write(row["allocation_region"]) and caller.can_write(row["region_code"])):
        return mismatch("outside_region", "The disbursement's allocation lies outside your region.")
    if row["amount"] != line.amount:
        return mismatch("amount_mismatch", f"The disbursement is for {row['amount']} rupiah.")
    if row["status"] == line.status:
        return None
    if not may_move(row["status"], line.status):
        return mismatch(
            "invalid_transition",
            f"A disbursement that is {row['status']} cannot become {line.status}.",
        )
    return Move(
        disbursement_id=row["id"],
        allocation_id=row["allocation_id"],
        region_code=row["region_code"],
        amount=row["amount"],
        from_status=row["status"],
        to_status=line.status,
        note=f"Reconciliation file, line {line.line}",
        on_date=line.on_date,
    )
