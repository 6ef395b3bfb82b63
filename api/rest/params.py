"""Query parameters every list shares."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from schemas.filters import CursorText
from service.pagination import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, {DEFAULT_LIMIT} by default.")
]
Cursor = Annotated[CursorText | None, Query(description="`next_cursor` of the previous page.")]

_ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_8601_only(value: Any) -> Any:
    # Pydantic's lax mode reads `0.5` or `1700000000` as a Unix time; the contract says
    # ISO 8601, and a number here is far more likely a client's bug than a time.
    if isinstance(value, str) and not _ISO_DATE_START.match(value):
        raise PydanticCustomError(
            "iso_8601_datetime", "An ISO 8601 date-time, e.g. 2026-01-31T08:00:00+07:00."
        )
    return value


UpdatedSince = Annotated[
    dt.datetime | None,
    BeforeValidator(_iso_8601_only),
    Query(description="Changed at or after this time (ISO 8601, e.g. `2026-01-31T08:00:00Z`)."),
]
