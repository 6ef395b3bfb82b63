"""The change feed over REST, on committed data: real transactions on separate connections."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from service.database import create_session_factory
from tests.api.changes_feed import drain, drain_until, journal_change, record_ids
from tests.factories import ClientFactory

VILLAGE = "33.28.02.2001"
OTHER_VILLAGE = "33.28.02.2002"


async def test_a_change_that_began_first_and_commits_last_is_not_skipped(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    reader = await live_clients(region=None, scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    sessions = create_session_factory(engine)
    async with sessions() as slow:
        await slow.begin()
        slow_id = await journal_change(slow, VILLAGE)  # takes its transaction id first
        async with sessions() as fast, fast.begin():
            fast_id = await journal_change(fast, VILLAGE)
        # The later transaction committed, but the earlier one still runs: nothing past it.
        seen_meanwhile, cursor = await drain(live_http, reader, cursor)
        assert fast_id not in record_ids(seen_meanwhile)
        await slow.commit()
    seen_after, _ = await drain_until(live_http, reader, cursor, {slow_id, fast_id})
    ids = record_ids(seen_after)
    assert slow_id in ids
    assert fast_id in ids
    assert ids.index(slow_id) < ids.index(fast_id)  # commit order by transaction id


async def test_a_reader_sees_only_changes_in_its_region_and_national_ones(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    async with create_session_factory(engine)() as session, session.begin():
        inside = await journal_change(session, VILLAGE)
        outside = await journal_change(session, OTHER_VILLAGE)
        national = await journal_change(session, None, entity="program")
    events, _ = await drain_until(live_http, reader, cursor, {inside, national})
    ids = record_ids(events)
    assert inside in ids
    assert national in ids
    assert outside not in ids
    assert {event["region_code"] for event in events} <= {VILLAGE, None}


async def test_an_event_carries_what_changed(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    async with create_session_factory(engine)() as session, session.begin():
        record_id = await journal_change(session, VILLAGE)
    events, _ = await drain_until(live_http, reader, cursor, {record_id})
    (event,) = [e for e in events if e["record_id"] == record_id]
    assert event["entity"] == "kpm"
    assert event["action"] == "update"
    assert event["version"] == 2
    assert event["changed_fields"] == ["address"]
    assert event["region_code"] == VILLAGE
    assert event["occurred_at"]


async def test_types_narrow_the_feed(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    reader = await live_clients(region=None, scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    async with create_session_factory(engine)() as session, session.begin():
        family = await journal_change(session, VILLAGE, entity="kpm")
        program = await journal_change(session, None, entity="program")
        grant = await journal_change(session, VILLAGE, entity="kube_grant")
    await drain_until(live_http, reader, cursor, {family, program, grant})
    only_programs, _ = await drain(live_http, reader, cursor, types="program")
    assert record_ids(only_programs) == [program]
    listed, _ = await drain(live_http, reader, cursor, types="kpm,program")
    assert record_ids(listed) == [family, program]
    repeated, _ = await drain(live_http, reader, cursor, types=["kpm", "kube_grant"])
    assert record_ids(repeated) == [family, grant]


async def test_an_empty_page_still_gives_a_cursor_to_poll_with(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    response = await live_http.get(
        "/api/v1/changes", params={"after": cursor}, headers=reader.headers
    )
    assert response.json()["items"] == []
    next_cursor = response.json()["next_cursor"]
    async with create_session_factory(engine)() as session, session.begin():
        record_id = await journal_change(session, VILLAGE)
    events, _ = await drain_until(live_http, reader, next_cursor, {record_id})
    assert record_ids(events) == [record_id]


async def test_pages_follow_one_another_without_gaps_or_repeats(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    _, cursor = await drain(live_http, reader, None)
    async with create_session_factory(engine)() as session, session.begin():
        written = [await journal_change(session, VILLAGE) for _ in range(5)]
    await drain_until(live_http, reader, cursor, set(written))
    events, _ = await drain(live_http, reader, cursor, limit=2)
    assert record_ids(events) == written
