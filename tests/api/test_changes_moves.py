"""A record that moves to another region leaves the old one: its readers see it go (a tombstone
naming only their region), the new region's readers see it whole, a national reader sees the
change."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api.changes_feed import drain_until, drain_until_version
from tests.factories import ClientFactory, IssuedClient, family_body, kube_group_body

# Committed data (the feed shows only committed changes), in a regency no other test lists.
A = "33.27.01.2001"
B = "33.27.01.2002"


async def _move_seen(
    http: httpx.AsyncClient, reader: IssuedClient, cursor: str | None, record_id: str
) -> dict[str, Any]:
    """The change that moved the record (its version 2), as ``reader`` sees it."""
    events, _ = await drain_until_version(http, reader, cursor, record_id, 2)
    return events[-1]


async def _moved(
    http: httpx.AsyncClient, clients: ClientFactory, url: str, body: dict[str, Any], move: str
) -> tuple[str, dict[str, dict[str, Any]], dict[str, Any]]:
    """Create a record in A, move it to B; the last event each reader (A, B, national) sees,
    and the record as B reads it."""
    writer = await clients(region="33.27")
    readers = {name: await clients(region=region) for name, region in (("A", A), ("B", B))}
    readers["national"] = await clients(region=None)
    cursors = {name: (await drain_until(http, r, None, set()))[1] for name, r in readers.items()}
    created = await http.post(url, json=body, headers=writer.headers)
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    moved = await http.patch(
        f"{url}/{record_id}",
        json={move: B},
        headers={**writer.headers, "If-Match": created.headers["etag"]},
    )
    assert moved.status_code == 200, moved.text
    seen = {
        name: await _move_seen(http, reader, cursors[name], record_id)
        for name, reader in readers.items()
    }
    read = await http.get(f"{url}/{record_id}", headers=readers["B"].headers)
    return record_id, seen, read.json()


def _assert_left_a(event: dict[str, Any]) -> None:
    assert event["action"] == "leave"
    assert event["region_code"] == A
    assert event["record"] is None
    assert event["changed_fields"] is None
    assert B not in json.dumps(event)  # A's reader does not learn where it went


async def test_a_family_moved_to_another_village_leaves_the_first(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    _, seen, read = await _moved(
        live_http, live_clients, "/api/v1/kpm", family_body(A), "village_code"
    )
    _assert_left_a(seen["A"])
    for name in ("B", "national"):
        assert seen[name]["action"] == "update"
        assert seen[name]["region_code"] == B
        assert seen[name]["record"] == read
    assert read["village_code"] == B


async def test_a_forming_kube_group_moved_to_another_village_leaves_the_first(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    _, seen, read = await _moved(
        live_http, live_clients, "/api/v1/kube", kube_group_body(A), "village_code"
    )
    _assert_left_a(seen["A"])
    assert seen["B"]["record"] == read
    assert seen["national"]["action"] == "update"


async def test_a_facilitator_moved_to_another_area_leaves_the_first(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    body = {"name": "Bu Wati", "kind": "TKSK", "region_code": A}
    _, seen, read = await _moved(
        live_http, live_clients, "/api/v1/facilitators", body, "region_code"
    )
    _assert_left_a(seen["A"])
    assert seen["B"]["record"] == read
    assert seen["national"]["action"] == "update"
