"""The feed in one streamed answer (``GET /api/v1/changes/stream``), the catch-up of a copy far
behind: the same changes as the pages, in the same order, checkpoints to resume from, and
every family handed out with personal numbers audited."""

from __future__ import annotations

import json
import uuid
from itertools import pairwise
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.feed import STREAM_PAGE
from service.database import create_session_factory
from service.kpm.identity import mask
from tests.api.changes_feed import drain, drain_until, record_ids
from tests.factories import ClientFactory, IssuedClient

VILLAGE = "33.26.04.2003"
OTHER_VILLAGE = "33.26.04.2004"
# More than one page of the stream, so that it hands out several pages and checkpoints.
EVENTS = STREAM_PAGE + 150

# Families changed in ``VILLAGE``, each event carrying its record as writers store it.
SEED = text(
    """
    INSERT INTO change_event (entity, record_id, action, region_code, version, payload)
    SELECT 'kpm', gen_random_uuid()::text, 'update', :village, 2,
           jsonb_build_object('no_kk', '332604010123' || lpad(n::text, 4, '0'), 'members',
                              jsonb_build_array(jsonb_build_object(
                                'nik', '332604550585' || lpad(n::text, 4, '0'), 'name', 'Sri')))
    FROM generate_series(1, :events) AS n
    RETURNING record_id
    """
)


async def stream(
    http: httpx.AsyncClient, reader: IssuedClient, after: str | None
) -> list[dict[str, Any]]:
    """Every line of one streamed answer, decoded."""
    params = {"after": after} if after else {}
    async with http.stream(
        "GET", "/api/v1/changes/stream", params=params, headers=reader.headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        return [json.loads(line) async for line in response.aiter_lines() if line]


def changes(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "next_cursor" not in line]


async def seed(engine: AsyncEngine, village: str = VILLAGE, events: int = EVENTS) -> list[str]:
    async with create_session_factory(engine)() as session, session.begin():
        result = await session.execute(SEED, {"village": village, "events": events})
        return list(result.scalars())


async def seeded_in_feed(
    http: httpx.AsyncClient, reader: IssuedClient, engine: AsyncEngine
) -> tuple[str, list[str]]:
    """The feed's cursor before ``EVENTS`` seeded changes, once ``reader`` can see them all."""
    _, start = await drain(http, reader, None)
    seeded = await seed(engine)
    await drain_until(http, reader, start, set(seeded))
    return start, seeded


async def test_the_stream_hands_out_what_the_pages_do_with_checkpoints_between(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    _, start = await drain(live_http, reader, None)
    elsewhere = await seed(engine, OTHER_VILLAGE, 5)
    seeded = await seed(engine)
    paged, _ = await drain_until(live_http, reader, start, set(seeded))

    lines = await stream(live_http, reader, start)

    streamed = changes(lines)
    assert not set(record_ids(streamed)) & set(elsewhere)  # outside the reader's region
    assert {event["region_code"] for event in streamed} <= {VILLAGE, None}
    ours = [event for event in streamed if event["record_id"] in set(seeded)]
    assert record_ids(ours) == seeded  # every one, once, in commit order
    assert streamed == paged[: len(streamed)]
    assert all(event["record"]["no_kk"] == mask(event["record"]["no_kk"]) for event in ours)
    assert "next_cursor" in lines[-1]  # it ends on a checkpoint
    checkpoints = [index for index, line in enumerate(lines) if "next_cursor" in line]
    assert len(checkpoints) >= 2
    assert all(later - earlier <= STREAM_PAGE + 1 for earlier, later in pairwise(checkpoints))


async def test_a_checkpoint_resumes_the_stream_where_it_was(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    reader = await live_clients(region=VILLAGE, scopes=["changes:read"])
    start, seeded = await seeded_in_feed(live_http, reader, engine)
    lines = await stream(live_http, reader, start)
    first_checkpoint = next(index for index, line in enumerate(lines) if "next_cursor" in line)
    # A connection broken after the first checkpoint: the rest comes from it, nothing twice.
    resumed = await stream(live_http, reader, lines[first_checkpoint]["next_cursor"])
    assert changes(lines[:first_checkpoint]) + changes(resumed) == changes(lines)
    # And the last checkpoint is where polling goes on: nothing of this test after it.
    after, _ = await drain(live_http, reader, lines[-1]["next_cursor"])
    assert not set(record_ids(after)) & set(seeded)


async def test_a_page_is_audited_before_it_is_streamed(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    watcher = await live_clients(region=VILLAGE, scopes=["changes:read"])
    start, seeded = await seeded_in_feed(live_http, watcher, engine)
    reader = await live_clients(region=VILLAGE, scopes=["changes:read", "pii:read"])

    received: list[dict[str, Any]] = []
    audited_at_checkpoints: list[tuple[set[str], set[str]]] = []
    async with live_http.stream(
        "GET", "/api/v1/changes/stream", params={"after": start}, headers=reader.headers
    ) as response:
        async for line in response.aiter_lines():
            if not line:
                continue
            received.append(json.loads(line))
            if "next_cursor" in received[-1]:
                handed_out = {event["record_id"] for event in changes(received)}
                audited_at_checkpoints.append((handed_out, await audited(engine, reader)))

    ours = [event for event in changes(received) if event["record_id"] in set(seeded)]
    assert record_ids(ours) == seeded
    assert ours[0]["record"]["no_kk"] == "3326040101230001"  # not masked
    assert len(audited_at_checkpoints) >= 2
    for handed_out, audited_then in audited_at_checkpoints:
        assert handed_out <= audited_then


async def audited(engine: AsyncEngine, reader: IssuedClient) -> set[str]:
    """The records whose personal numbers ``reader`` was handed, as the audit trail says."""
    async with create_session_factory(engine)() as session:
        ids = await session.scalars(
            select(col(AuditEntry.record_id)).where(
                col(AuditEntry.client_id) == uuid.UUID(reader.client_id),
                col(AuditEntry.action) == "read_pii",
            )
        )
        return set(ids)


async def test_the_stream_needs_its_scope_and_names_a_bad_cursor(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    unscoped = await live_clients(region=None, scopes=["kpm:read"])
    refused = await live_http.get("/api/v1/changes/stream", headers=unscoped.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    reader = await live_clients(region=None, scopes=["changes:read"])
    bad = await live_http.get(
        "/api/v1/changes/stream", params={"after": "not-a-cursor"}, headers=reader.headers
    )
    assert bad.status_code == 422
    assert [error["field"] for error in bad.json()["errors"]] == ["after"]
    assert (await live_http.get("/api/v1/changes/stream")).status_code == 401
