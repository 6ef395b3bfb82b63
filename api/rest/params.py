"""Query parameters every list shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from schemas.filters import CursorText
from service.pagination import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, {DEFAULT_LIMIT} by default.")
]
Cursor = Annotated[CursorText | None, Query(description="`next_cursor` of the previous page.")]
