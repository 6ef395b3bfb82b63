"""A feed page on the wire is the ``ChangePage`` Pydantic would write, though the service writes
it itself (each stored record spliced in as JSON text): the same fields in the same order,
``occurred_at`` as Pydantic formats it, the record as stored for a reader with ``pii:read``,
masked for one without, a tombstone for a reader of the region a record left; and GraphQL hands
out the same data."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from pydantic import TypeAdapter
from sqlalchemy import null
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.changes import ChangeOut
from service.changes.tables import ChangeEvent
from service.database import create_session_factory
from service.kpm.identity import mask
from tests.api.changes_feed import drain_until
from tests.factories import ClientFactory, IssuedClient

VILLAGE = "33.27.01.2001"
OTHER_VILLAGE = "33.27.01.2002"
UTC = dt.UTC


def family(no_kk: str, nik: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "no_kk": no_kk,
        "address": "Jl. Mawar — RT 01",
        "desil": 2,
        "members": [{"id": str(uuid.uuid4()), "nik": nik, "name": "Siti Ṡalmah", "sex": "P"}],
    }


def stored_events() -> list[dict[str, Any]]:
    """Events as writers store them, with what a renderer could get wrong: a time without
    microseconds and one with trailing zeros, non-ASCII text, a float and a large integer, a
    JSON ``null`` record, no record at all, and a move out of ``VILLAGE``."""
    return [
        {
            "entity": "kpm",
            "action": "create",
            "region_code": VILLAGE,
            "occurred_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "changed_fields": ["members", "no_kk"],
            "payload": family("3327010101230001", "3327015505850001"),
        },
        {
            "entity": "program",
            "action": "update",
            "region_code": None,
            "occurred_at": dt.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
            "changed_fields": ["name"],
            "payload": {"name": "Program «Ü»", "rate": 1.5, "budget": 12_345_678_901_234},
        },
        {
            "entity": "kpm",
            "action": "archive",
            "region_code": VILLAGE,
            "occurred_at": dt.datetime(2026, 1, 2, 3, 4, 6, 1, tzinfo=UTC),
            "changed_fields": None,
            "payload": None,  # stored as JSON null
        },
        {
            "entity": "facilitator",
            "action": "update",
            "region_code": VILLAGE,
            "occurred_at": dt.datetime(2026, 1, 2, 3, 4, 7, 999999, tzinfo=UTC),
            "changed_fields": ["name"],
            "payload": null(),  # no record: SQL NULL
        },
        {
            "entity": "kpm",
            "action": "update",
            "region_code": OTHER_VILLAGE,
            "previous_region_code": VILLAGE,
            "occurred_at": dt.datetime(2026, 1, 2, 3, 4, 8, 500, tzinfo=UTC),
            "changed_fields": ["village_code"],
            "payload": family("3327010101230002", "3327015505850002"),
        },
    ]


def masked(record: dict[str, Any]) -> dict[str, Any]:
    return {
        **record,
        "no_kk": mask(record["no_kk"]),
        "members": [{**member, "nik": mask(member["nik"])} for member in record["members"]],
    }


def expected(event: dict[str, Any], *, pii: bool, left: bool) -> dict[str, Any]:
    """The item as ``ChangeOut`` dumps it, from the stored event and the reader's view."""
    payload = event["payload"]
    record = payload if isinstance(payload, dict) else None
    if record is not None and event["entity"] == "kpm" and not pii:
        record = masked(record)
    return ChangeOut(
        entity=event["entity"],
        record_id=event["record_id"],
        action="leave" if left else event["action"],
        version=event["version"],
        changed_fields=None if left else event["changed_fields"],
        occurred_at=event["occurred_at"],
        region_code=event["previous_region_code"] if left else event["region_code"],
        record=None if left else record,
    ).model_dump(mode="json")


GRAPHQL = """query($after: String) {
    changes(after: $after, limit: 500) {
        items { entity recordId action version changedFields occurredAt regionCode record }
        nextCursor
    }
}"""


async def graphql_items(
    http: httpx.AsyncClient, reader: IssuedClient, wanted: set[str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        response = await http.post(
            "/graphql",
            json={"query": GRAPHQL, "variables": {"after": after}},
            headers=reader.headers,
        )
        page = response.json()["data"]["changes"]
        items += [item for item in page["items"] if item["recordId"] in wanted]
        after = page["nextCursor"]
        if len(page["items"]) < 500:
            return items


async def test_a_page_is_what_pydantic_would_write_for_every_reader(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    readers = {
        "pii": await live_clients(region=None, scopes=["changes:read", "pii:read"]),
        "masked": await live_clients(region=None, scopes=["changes:read"]),
        "old region": await live_clients(region=VILLAGE, scopes=["changes:read", "pii:read"]),
    }
    events = stored_events()
    async with create_session_factory(engine)() as session, session.begin():
        for number, event in enumerate(events, start=1):
            event.update(record_id=str(uuid.uuid4()), version=number)
            event.setdefault("previous_region_code", None)
            session.add(ChangeEvent(**event))
            await session.flush()  # in this order
    wanted = {event["record_id"] for event in events}
    for name, reader in readers.items():
        got, _ = await drain_until(live_http, reader, None, wanted)
        items = [item for item in got if item["record_id"] in wanted]
        pii, regional = name != "masked", name == "old region"
        assert items == [
            expected(event, pii=pii, left=regional and event["previous_region_code"] is not None)
            for event in events
        ], name
        assert all(list(item) == list(ChangeOut.model_fields) for item in items)

        over_graphql = await graphql_items(live_http, reader, wanted)
        assert [
            {
                "entity": item["entity"],
                "record_id": item["recordId"],
                "action": item["action"],
                "version": item["version"],
                "changed_fields": item["changedFields"],
                "occurred_at": TypeAdapter(dt.datetime).dump_python(
                    dt.datetime.fromisoformat(item["occurredAt"]), mode="json"
                ),
                "region_code": item["regionCode"],
                "record": item["record"],
            }
            for item in over_graphql
        ] == items, name
