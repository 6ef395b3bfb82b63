"""What the record lists share: the order by last change, ``(updated_at, id)``, so that a system
syncing with ``updated_since`` pages forward with the cursor and never misses or repeats a
record; the order by one unique column for lists that do not sync; the region prefix filter; the
name search."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import and_, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import within
from service.errors import FieldError, ValidationFailed
from service.pagination import Page, check_limit, cursor_part, decode_cursor, page_from
from service.records import RecordColumns
from service.regions.codes import normalize_region_code

R = TypeVar("R", bound=RecordColumns)


def _cursor_key(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    after_time, after_id = decode_cursor(cursor, width=2)
    try:
        return dt.datetime.fromisoformat(str(after_time)), uuid.UUID(str(after_id))
    except ValueError:
        raise ValidationFailed(
            errors=[FieldError("cursor", "invalid_cursor", "The cursor is not one we gave.")]
        ) from None


async def page_by_last_change(
    session: AsyncSession,
    model: type[R],
    query: Any,
    *,
    limit: int,
    cursor: str | None,
    updated_since: dt.datetime | None = None,
) -> Page[R]:
    """One page of ``query`` (a ``select(model)`` already filtered by region and the rest)."""
    check_limit(limit)
    updated_at, record_id = col(model.updated_at), col(model.id)
    if updated_since is not None:
        query = query.where(updated_at >= updated_since)
    if cursor is not None:
        after_time, after_id = _cursor_key(cursor)
        query = query.where(
            or_(updated_at > after_time, and_(updated_at == after_time, record_id > after_id))
        )
    rows = (await session.scalars(query.order_by(updated_at, record_id).limit(limit + 1))).all()
    return page_from(rows, limit, key=lambda row: (row.updated_at.isoformat(), str(row.id)))


async def page_by_column(
    session: AsyncSession,
    query: Any,
    column: Any,
    *,
    limit: int,
    cursor: str | None,
    convert: Callable[[str], Any] = str,
) -> Page[Any]:
    """One page of ``query`` in the order of ``column``, a unique one (a code, an id);
    ``convert`` reads a cursor's value back as the column's type."""
    check_limit(limit)
    if cursor is not None:
        (after,) = decode_cursor(cursor, width=1)
        query = query.where(column > cursor_part(after, convert))
    rows = (await session.scalars(query.order_by(column).limit(limit + 1))).all()
    return page_from(rows, limit, key=lambda row: (getattr(row, column.key),))


def in_region(column: Any, raw_region: str, *, field: str = "region") -> Any:
    """SQL filter: ``column`` lies in the region given as a list filter (dotted or not)."""
    return within(column, normalize_region_code(raw_region, field=field))


def name_contains(column: Any, term: str) -> Any:
    """SQL filter: case-insensitive substring search, at least 2 characters as sent (the
    documented `minLength`). Surrounding whitespace is trimmed, unless that would leave fewer:
    which characters count as whitespace differs between Python, the validators and JSON
    Schema (U+001D is to Python's strip, not to the others), so the length is not judged on
    the trimmed term, or a search valid by the document would be refused (found by
    schemathesis)."""
    if len(term) < 2:
        raise ValidationFailed(
            errors=[FieldError("name", "too_short", "Search with at least 2 characters.")]
        )
    trimmed = term.strip()
    cleaned = (trimmed if len(trimmed) >= 2 else term).lower()
    escaped = cleaned.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%")
