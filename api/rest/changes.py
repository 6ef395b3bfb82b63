from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response

from api.deps import StandaloneCallerDep
from api.observability import observe_change_feed
from api.problems import problem_responses
from schemas.changes import ChangePage
from service.changes import feed
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


def change_signal(request: Request) -> ChangeSignal:
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


def page_json(items: list[SeenChange], next_cursor: str) -> bytes:
    """``ChangePage`` as JSON, written in one go: each record goes in as the JSON text the
    feed holds (stored, or masked), never decoded and validated again on the way out. The
    shape and formats are ``ChangePage``'s (``occurred_at`` in ISO 8601 with ``Z``, as
    Pydantic writes it)."""
    return orjson.dumps(
        {
            "items": [
                {
                    "entity": seen.entity,
                    "record_id": seen.record_id,
                    "action": seen.action,
                    "version": seen.version,
                    "changed_fields": seen.changed_fields,
                    "occurred_at": seen.occurred_at,
                    "region_code": seen.region_code,
                    "record": None
                    if seen.record_json is None
                    else orjson.Fragment(seen.record_json),
                }
                for seen in items
            ],
            "next_cursor": next_cursor,
        },
        option=orjson.OPT_UTC_Z,
    )
