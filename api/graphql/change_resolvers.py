"""The change feed over GraphQL: the same service functions and rules as REST's
``GET /api/v1/changes``: a page at a time (the ``changes`` query), or live (the ``changes``
subscription, over a WebSocket, api/graphql/subscriptions.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import cast

import strawberry
from starlette.websockets import WebSocket
from strawberry.scalars import JSON
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.subscriptions import SubscriptionSlots
from api.observability import observe_change_feed
from api.rest.changes import change_signal
from service.changes import feed
from service.changes.presenting import SeenChange
from service.errors import BadRequest

GqlInfo = Info[GraphQLContext, None]


@strawberry.type(description="One write to a shared record, as the change feed hands it out.")
class Change:
    entity: str = strawberry.field(description="The record's type (`kpm`, `program`, ...).")
    record_id: str
    action: str
    version: int | None
    changed_fields: list[str] | None
    occurred_at: datetime
    region_code: str | None
    record: JSON | None = strawberry.field(
        description="The record as of this change, as REST's `GET` shows it (masked for your "
        "scopes the same way); null when `action` is `leave` (it moved out of your region)."
    )

    @staticmethod
    def from_seen(seen: SeenChange) -> Change:
        return Change(
            entity=seen.entity,
            record_id=seen.record_id,
            action=seen.action,
            version=seen.version,
            changed_fields=seen.changed_fields,
            occurred_at=seen.occurred_at,
            region_code=seen.region_code,
            record=cast(JSON, seen.record),
        )


@strawberry.type
class ChangePage:
    items: list[Change]
    next_cursor: str = strawberry.field(
        description="Always given: pass it as `after` for the changes that follow."
    )


async def changes(
    info: GqlInfo, after: str | None = None, types: list[str] | None = None, limit: int = 50
) -> ChangePage:
    page = await feed.read_changes(
        info.context.session, info.context.caller, after=after, types=types or (), limit=limit
    )
    assert info.context.request is not None
    settings = info.context.request.app.state.settings
    observe_change_feed(page.held_back_seconds, settings.change_feed_stall_warning_seconds)
    return ChangePage(
        items=[Change.from_seen(seen) for seen in page.items], next_cursor=page.next_cursor
    )


@strawberry.type(description="A change as it happens, with its place in the feed.")
class LiveChange:
    cursor: str = strawberry.field(
        description="Subscribe again with this as `after` to go on right after this change."
    )
    change: Change


async def live_changes(
    info: GqlInfo, after: str | None = None, types: list[str] | None = None
) -> AsyncGenerator[LiveChange]:
    websocket = info.context.request
    caller = info.context.caller
    if not isinstance(websocket, WebSocket):
        # Strawberry would also stream it over HTTP (multipart): nothing there would end it
        # when the client is revoked.
        raise BadRequest("Subscribe over a WebSocket (graphql-transport-ws) at /graphql.")
    with SubscriptionSlots.of(websocket).taken(caller):
        pages = feed.follow_changes(
            websocket.app.state.sessions,
            change_signal(websocket),
            caller,
            after=after,
            types=types or (),
        )
        async for page in pages:
            for seen, cursor in zip(page.items, page.item_cursors(), strict=True):
                yield LiveChange(cursor=cursor, change=Change.from_seen(seen))
