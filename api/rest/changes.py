from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import HTTPConnection

from api.deps import StandaloneCallerDep
from api.observability import observe_change_feed
from api.problems import problem_responses
from schemas.changes import ChangePage
from service.changes import feed
from service.changes.feed import ChangePage as FeedPage
from service.changes.notifications import ChangeSignal
from service.changes.presenting import SeenChange
from service.connections import asyncpg_dsn
from service.pagination import DEFAULT_LIMIT

router = APIRouter(
    prefix="/api/v1/changes", tags=["changes"], responses=problem_responses(401, 403, 422)
)

After = Annotated[
    str | None,
    Query(
        max_length=500,
        description="`next_cursor` of the previous page. Without it the feed starts at the "
        "oldest change still kept.",
    ),
]
Types = Annotated[
    list[str] | None,
    Query(
        description="Only these record types, repeated or comma-separated: "
        + ", ".join(f"`{name}`" for name in sorted(feed.ENTITY_TYPES))
        + ".",
    ),
]
Limit = Annotated[
    int,
    Query(
        ge=1,
        le=feed.FEED_MAX_LIMIT,
        description=f"Page size, {DEFAULT_LIMIT} by default, up to {feed.FEED_MAX_LIMIT} "
        "(more than other lists: draining the feed in bigger pages takes fewer round trips).",
    ),
]
Wait = Annotated[
    int,
    Query(
        ge=0,
        le=feed.MAX_WAIT_SECONDS,
        description="Seconds to wait for a change when there is none yet (long polling).",
    ),
]


def change_signal(request: HTTPConnection) -> ChangeSignal:
    """The process's one listening connection, opened on first use, closed at shutdown."""
    signal: ChangeSignal | None = getattr(request.app.state, "change_signal", None)
    if signal is None:
        url = request.app.state.engine.url.render_as_string(hide_password=False)
        signal = request.app.state.change_signal = ChangeSignal(asyncpg_dsn(url))
    return signal


@router.get(
    "",
    operation_id="listChanges",
    response_model=ChangePage,
    responses=problem_responses(410),
)
async def list_changes(
    request: Request,
    caller: StandaloneCallerDep,
    after: After = None,
    types: Types = None,
    limit: Limit = 50,
    wait: Wait = 0,
) -> Response:
    """What changed, in commit order: every create, update, status move and archive of the
    records in your region (and of the national programs). Needs `changes:read`.

    Keep a copy in step by polling with the `next_cursor` of your last page as `after`: a
    cursor never misses a committed change, not even one whose transaction began before and
    committed after changes you already have (such a change holds the feed back until it
    commits). `next_cursor` is always given, also with an empty page. With `wait` (up to 30
    seconds) an empty page is answered as soon as a change arrives.

    Changes are kept a limited number of days: an older cursor answers 410 `cursor_expired`;
    then read the records again (`GET /api/v1/kpm/export?updated_since=...` and the other
    lists) and follow the feed from the start, without `after`.
    """
    page = await feed.wait_for_changes(
        request.app.state.sessions,
        change_signal(request),
        caller,
        after=after,
        types=types or (),
        limit=limit,
        wait_seconds=wait,
    )
    settings = request.app.state.settings
    observe_change_feed(page.held_back_seconds, settings.change_feed_stall_warning_seconds)
    return Response(page_json(page.items, page.next_cursor), media_type="application/json")


@router.get(
    "/stream",
    operation_id="streamChanges",
    response_class=StreamingResponse,
    responses={
        **problem_responses(410),
        200: {
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            "description": "One JSON object per line: a change (the fields of an item of "
            "`listChanges`), and after every page of them a checkpoint "
            '`{"next_cursor": "..."}`. The last line is always a checkpoint.',
        },
    },
)
async def stream_changes(
    request: Request,
    caller: StandaloneCallerDep,
    after: After = None,
    types: Types = None,
) -> StreamingResponse:
    """Every change after `after` up to now, in one streamed answer: the quick way for a copy
    that is far behind (a new one, or one back from a week offline) to catch up, instead of
    thousands of pages. Same order, records, masking and audit as `GET /api/v1/changes`.
    Needs `changes:read`.

    Lines are changes, with a checkpoint `{"next_cursor": "..."}` after every page of them
    (up to 2,000) and at the end. Keep the last checkpoint you have applied: if the
    connection breaks, stream again from it. Then follow `GET /api/v1/changes` (with `wait`)
    from the last checkpoint.
    """
    pages = await feed.stream_changes(
        request.app.state.sessions, caller, after=after, types=types or ()
    )
    return StreamingResponse(ndjson_lines(pages), media_type="application/x-ndjson")


async def ndjson_lines(pages: AsyncIterator[FeedPage]) -> AsyncIterator[bytes]:
    """Each page's changes as lines, then its checkpoint line."""
    async for page in pages:
        yield b"".join(change_line(seen) for seen in page.items) + orjson.dumps(
            {"next_cursor": page.next_cursor}, option=orjson.OPT_APPEND_NEWLINE
        )


def change_line(seen: SeenChange) -> bytes:
    """A change as one NDJSON line."""
    return orjson.dumps(change_item(seen), option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE)


def change_item(seen: SeenChange) -> dict[str, object]:
    """A change as ``ChangeOut`` writes it, its record spliced in as the feed's JSON text."""
    return {
        "entity": seen.entity,
        "record_id": seen.record_id,
        "action": seen.action,
        "version": seen.version,
        "changed_fields": seen.changed_fields,
        "occurred_at": seen.occurred_at,
        "region_code": seen.region_code,
        "record": None if seen.record_json is None else orjson.Fragment(seen.record_json),
    }


def page_json(items: list[SeenChange], next_cursor: str) -> bytes:
    """``ChangePage`` as JSON, written in one go: each record goes in as the JSON text the
    feed holds (stored, or masked), never decoded and validated again on the way out. The
    shape and formats are ``ChangePage``'s (``occurred_at`` in ISO 8601 with ``Z``, as
    Pydantic writes it)."""
    return orjson.dumps(
        {"items": [change_item(seen) for seen in items], "next_cursor": next_cursor},
        option=orjson.OPT_UTC_Z,
    )
