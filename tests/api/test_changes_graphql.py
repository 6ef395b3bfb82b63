"""The change feed over GraphQL: the same events, region rule and refusals as REST."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from service.database import create_session_factory
from tests.api.changes_feed import drain, drain_until, journal_change
from tests.factories import ClientFactory, IssuedClient

VILLAGE = "33.28.02.2001"
OTHER_VILLAGE = "33.28.02.2002"

QUERY = """query($after: String, $types: [String!]) {
    changes(after: $after, types: $types, limit: 500) {
        items { entity recordId action version changedFields regionCode occurredAt }
        nextCursor
    }
}"""


async def _changes(
    http: httpx.AsyncClient, reader: IssuedClient, **variables: Any
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": QUERY, "variables": variables}, headers=reader.headers
    )
    return dict(response.json())


async def test_graphql_gives_the_changes_in_the_readers_region(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    async with create_session_factory(engine)() as session, session.begin():
        inside = await journal_change(session, VILLAGE)
        await journal_change(session, OTHER_VILLAGE)
    await drain_until(live_http, reader, cursor, {inside})  # past any other test's transaction
    page = (await _changes(live_http, reader, after=cursor, types=["kpm"]))["data"]["changes"]
    assert [item["recordId"] for item in page["items"]] == [inside]
    assert page["items"][0]["changedFields"] == ["address"]
    assert page["nextCursor"]


async def test_graphql_refuses_an_unknown_type_with_the_rest_code(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    body = await _changes(live_http, reader, types=["spaceship"])
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "validation_failed"
    assert [item["field"] for item in error["extensions"]["errors"]] == ["types"]


async def test_graphql_feed_needs_its_scope(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["kpm:read"])
    (error,) = (await _changes(live_http, reader))["errors"]
    assert error["extensions"]["code"] == "insufficient_scope"
