"""Cells of the CSV files the offices open in spreadsheets, made safe from formula injection
(OWASP: "CSV injection"): a value that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return would be run as a formula, so it is written with a leading apostrophe, which
spreadsheets show as text and never evaluate. Reading one of our own files back removes it, so
an export imports back unchanged; a value that itself begins with an apostrophe followed by one
of those (or by another apostrophe) gets one more, so that the round trip is exact."""

from __future__ import annotations

# Also what the XLSX writer (service/exports.py) stores with the quote prefix.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_STARTS = (*FORMULA_STARTS, "'")


def safe_cell(value: str) -> str:
    """``value`` as a CSV cell that no spreadsheet runs."""
    if value.startswith(FORMULA_STARTS) or (
        value.startswith("'") and value[1:].startswith(_ESCAPED_STARTS)
    ):
        return "'" + value
    return value


def read_cell(value: str) -> str:
    """The value ``safe_cell`` was given."""
    if value.startswith("'") and value[1:].startswith(_ESCAPED_STARTS):
        return value[1:]
    return value
