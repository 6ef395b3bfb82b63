"""Opaque keyset cursors: the sort key of the last row of a page, base64url-encoded JSON.

Keyset pagination keeps every page an index range scan, and a row inserted while a client pages
through a list can neither repeat nor push another out of the list.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from service.errors import FieldError, ValidationFailed

T = TypeVar("T")
V = TypeVar("V")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def check_limit(limit: int, *, maximum: int = MAX_LIMIT) -> int:
    """Both doors pass the page size through here, so GraphQL gets the same bounds as REST."""
    if not 1 <= limit <= maximum:
        raise ValidationFailed(
            errors=[FieldError("limit", "out_of_range", f"limit is 1 to {maximum}.")]
        )
    return limit


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, width: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != width:
        raise ValidationFailed(
            errors=[FieldError("cursor", "invalid_cursor", "The cursor is not one this API gave.")]
        )
    return key


def cursor_part(value: Any, convert: Callable[[str], V]) -> V:
    """One part of a decoded cursor as the type it must have; a forged one is refused."""
    try:
        return convert(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed(
            errors=[FieldError("cursor", "invalid_cursor", "The cursor is not one this API gave.")]
        ) from None


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_from(rows: Sequence[T], limit: int, key: Any) -> Page[T]:
    """Build a page from ``limit + 1`` fetched rows; ``key(row)`` gives a row's sort key."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(key(items[-1])) if more and items else None)
