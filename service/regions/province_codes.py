"""The 38 province codes, read once from the shipped region data (for checks that need no
database round trip, such as the province part of a NIK)."""

from __future__ import annotations

import csv

from service.regions.loader import DATA_DIR

with (DATA_DIR / "provinces.csv").open(newline="", encoding="utf-8") as _handle:
    PROVINCE_CODES: frozenset[str] = frozenset(row["code"] for row in csv.DictReader(_handle))
