"""What every report shares: the region it covers and when it was computed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.access import Caller, narrowed_region
from service.records import utcnow
from service.regions.codes import normalize_region_code

Row = TypeVar("Row")


@dataclass(frozen=True)
class Report(Generic[Row]):
    region_code: str | None  # None: national
    rows: list[Row]
    generated_at: dt.datetime = field(default_factory=utcnow)


def report_region(caller: Caller, requested: str | None) -> str | None:
    """Checks ``reports:read`` and resolves the region the report covers."""
    caller.require("reports:read")
    region = normalize_region_code(requested, field="region") if requested else None
    return narrowed_region(caller, region)
