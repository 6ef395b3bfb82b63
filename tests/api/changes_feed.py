"""Helpers of the change-feed tests: committed writes through the journal, and a reader that
drains the feed as an integrator would."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.clients import operator
from service.journal import record_write
from tests.factories import IssuedClient


async def journal_change(
    session: AsyncSession, region: str | None, *, entity: str = "kpm", record_id: str | None = None
) -> str:
    """One change of a record, journaled as every writer does (not committed here)."""
    record_id = record_id or str(uuid.uuid4())
    await record_write(
        session,
        operator(),
        action="update",
        entity=entity,
        record_id=record_id,
        region_code=region,
        version=2,
        changes={"address": ["old", "new"]},
    )
    return record_id


async def drain(
    http: httpx.AsyncClient, reader: IssuedClient, cursor: str | None, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    """Every event after ``cursor`` the reader gets now, page by page, and the last cursor."""
    events: list[dict[str, Any]] = []
    while True:
        query = {"limit": 500, **params, **({"after": cursor} if cursor else {})}
        response = await http.get("/api/v1/changes", params=query, headers=reader.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        events += page["items"]
        cursor = page["next_cursor"]
        assert cursor
        if len(page["items"]) < query["limit"]:
            return events, cursor


def record_ids(events: list[dict[str, Any]]) -> list[str]:
    return [event["record_id"] for event in events]


async def drain_until(
    http: httpx.AsyncClient,
    reader: IssuedClient,
    cursor: str | None,
    expected: set[str],
    **params: Any,
) -> tuple[list[dict[str, Any]], str]:
    """``drain`` until the events of ``expected`` records arrived, as a polling reader would: a
    transaction of another test on the same server may hold the feed back for a moment."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while True:
        more, cursor = await drain(http, reader, cursor, **params)
        events += more
        if expected <= set(record_ids(events)) or time.monotonic() > deadline:
            return events, cursor
        await asyncio.sleep(0.1)
