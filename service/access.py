"""Who may see and change what. The one place the access rules live; REST, GraphQL, exports, the
change feed and webhooks all ask these functions.

- Scopes: each action names the scope it needs (``Caller.require``).
- Region scope: a caller bound to region R sees only records whose region lies inside R. A record
  outside R answers "not found", exactly as if it did not exist (so its existence does not leak);
  creating or moving a record outside R is "forbidden". A record with no region (``None``) is
  national: everyone may read it, only national callers may change it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, or_, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from service.errors import Forbidden, NotFound
from service.regions.codes import contains


@dataclass(frozen=True)
class Caller:
    """The authenticated client on whose behalf a service function runs."""

    client_id: uuid.UUID | None
    name: str
    scopes: frozenset[str]
    region_code: str | None  # None: national
    request_id: str | None = None
    # Set for the operator's command line, which acts outside OAuth.
    is_operator: bool = field(default=False)

    @property
    def is_national(self) -> bool:
        return self.region_code is None

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(
                f"This action needs the scope '{scope}'.",
                code="insufficient_scope",
                params={"scope": scope},
            )

    def can_see(self, record_region: str | None) -> bool:
        if self.region_code is None or record_region is None:
            return True
        return contains(self.region_code, record_region)

    def can_write(self, record_region: str | None) -> bool:
        if self.region_code is None:
            return True
        return record_region is not None and contains(self.region_code, record_region)


R = TypeVar("R")


async def fetch_visible(
    session: AsyncSession,
    caller: Caller,
    statement: Select[R],
    *,
    entity: str,
    scopes: tuple[str, str],
    for_update: bool = False,
) -> R:
    """The one row of ``statement``, a domain's "visible to this caller" statement narrowed to
    one id (its WHERE already carries ``visible_to``), so the region is decided in SQL.
    ``scopes`` is (read scope, write scope), the write one when the row is loaded to be changed
    (and locked, ``FOR UPDATE``). Missing and outside the caller's region are the same "not
    found", so a record's existence does not leak."""
    caller.require(scopes[1] if for_update else scopes[0])
    if for_update:
        statement = statement.with_for_update()
    row = (await session.scalars(statement)).one_or_none()
    if row is None:
        raise NotFound.of(entity)
    return row


def ensure_writable(caller: Caller, target_region: str | None) -> None:
    """Creating, changing or moving a record to ``target_region`` needs that region in scope."""
    if not caller.can_write(target_region):
        raise Forbidden(
            "The record's region lies outside the region this client is bound to.",
            code="outside_region",
        )


def visible_to(
    caller: Caller,
    region_column: Mapped[str] | Mapped[str | None],
    *,
    national_rows_visible: bool = True,
) -> ColumnElement[bool]:
    """SQL filter: rows whose region lies inside the caller's region."""
    if caller.region_code is None:
        return true()
    inside = within(region_column, caller.region_code)
    if national_rows_visible:
        return or_(region_column.is_(None), inside)
    return inside


def within(
    region_column: Mapped[str] | Mapped[str | None], region_code: str
) -> ColumnElement[bool]:
    """SQL filter: rows whose region is ``region_code`` or lies below it (an index range scan
    on a ``text_pattern_ops`` index)."""
    return or_(
        region_column == region_code,
        region_column.startswith(region_code + ".", autoescape=True),
    )


def narrowed_region(caller: Caller, requested: str | None) -> str | None:
    """The region a report or export covers: the caller's own, or a region inside it that the
    caller asked for. A region outside the caller's is reported as not found."""
    if requested is None:
        return caller.region_code
    if caller.region_code is not None and contains(requested, caller.region_code):
        return caller.region_code  # asked for a region above its own: still only its own
    if not caller.can_see(requested):
        raise NotFound.of("region")
    return requested
