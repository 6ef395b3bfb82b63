"""Lists as files: the ``GET .../export?format=csv|ndjson|xlsx`` operation every list has, and
the columns each file carries.

An export takes the list's own filter parameters and reads the list's own service function,
page after page (``service.exports.list_pages``), so it sees what the list sees: the caller's
region, the scope, masking and audit. A row is the record as the list presents it in JSON,
flattened: its scalar fields in the JSON's order and names, a nested object's fields prefixed
with its name (``assessment_needs``), and a nested list as the columns the table names (a count,
or its values joined with ``;``). Headers are those names, or Indonesian with
``Accept-Language: id``; NDJSON keys stay English, as in the JSON."""

from __future__ import annotations

import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.i18n import column_headers, wants_indonesian
from service.exports import (
    MEDIA_TYPES,
    PAGE_SIZE,
    Chunk,
    FileFormat,
    Row,
    list_pages,
    plain,
    write_file,
)
from service.pagination import Page

Out = TypeVar("Out", bound=BaseModel)

ExportFormat = Annotated[
    FileFormat,
    Query(
        alias="format",
        description="`csv` (UTF-8, a header line), `ndjson` (one JSON object per line) or "
        "`xlsx` (a spreadsheet).",
    ),
]


def export_responses(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of an export: its three media types."""
    return {
        200: {
            "content": {media.split(";")[0]: {} for media in MEDIA_TYPES.values()},
            "description": description,
        }
    }


@dataclass(frozen=True)
class Table:
    """The columns of one list's file: their keys, and how a presented record gives its row."""

    keys: tuple[str, ...]
    row: Callable[[Any], Row]


def table(model: type[BaseModel], **lists: Callable[[Any], Any]) -> Table:
    """The columns of ``model``: its scalar fields, a nested model's fields prefixed with its
    name, then ``lists``: a column per keyword, its value computed from the record (how a
    nested list is shown)."""
    getters: list[tuple[str, Callable[[Any], Any]]] = []
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        if nested is not None:
            for sub in nested.model_fields:
                getters.append((f"{name}_{sub}", _nested_getter(name, sub)))
        elif typing.get_origin(field.annotation) is not list:
            getters.append((name, _getter(name)))
    getters.extend(lists.items())
    keys = tuple(key for key, _ in getters)
    functions = tuple(function for _, function in getters)

    def row(record: Any) -> Row:
        return tuple(plain(function(record)) for function in functions)

    return Table(keys, row)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _getter(name: str) -> Callable[[Any], Any]:
    return lambda record: getattr(record, name)


def _nested_getter(name: str, sub: str) -> Callable[[Any], Any]:
    def value(record: Any) -> Any:
        nested = getattr(record, name)
        return None if nested is None else getattr(nested, sub)

    return value


def joined(values: Sequence[Any]) -> str:
    """A nested list in one cell."""
    return ";".join(str(plain(value)) for value in values)


def paged(
    list_page: Callable[[AsyncSession, str | None], Awaitable[Page[Any]]],
    present: Callable[[Any], BaseModel],
    columns: Table,
) -> Callable[[AsyncSession, str | None], Awaitable[tuple[list[Row], str | None]]]:
    """A page fetch for ``list_pages``: one page of the list, presented as the list presents
    it, as rows."""

    async def fetch(session: AsyncSession, cursor: str | None) -> tuple[list[Row], str | None]:
        page = await list_page(session, cursor)
        return [columns.row(present(item)) for item in page.items], page.next_cursor

    return fetch


async def export_list(
    request: Request,
    session: AsyncSession,
    file_format: FileFormat,
    name: str,
    columns: Table,
    list_page: Callable[[AsyncSession, str | None], Awaitable[Page[Any]]],
    present: Callable[[Any], BaseModel],
) -> StreamingResponse:
    """The list's file, streamed. ``list_page(session, cursor)`` reads one page of
    ``PAGE_SIZE`` with the list's filters; the first is read here, in the request's own
    transaction, so that a refusal is a problem response rather than a cut download."""
    fetch = paged(list_page, present, columns)
    first, cursor = await fetch(session, None)
    rows = list_pages(request.app.state.sessions, fetch, first, cursor)
    return file_response(request, file_format, name, columns.keys, rows)


def file_response(
    request: Request,
    file_format: FileFormat,
    name: str,
    keys: Sequence[str],
    rows: AsyncIterator[Chunk],
) -> StreamingResponse:
    """``rows`` as the file ``name.format``, streamed, headed in the caller's language."""
    headers = column_headers(keys, wants_indonesian(request.headers.get("accept-language")))
    return StreamingResponse(
        write_file(file_format, keys, headers, rows, sheet=name),
        media_type=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="{name}.{file_format}"'},
    )


__all__ = ["PAGE_SIZE", "ExportFormat", "Table", "export_list", "export_responses", "table"]
