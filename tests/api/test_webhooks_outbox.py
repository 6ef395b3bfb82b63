"""The outbox over real writes: each write through the API queues one pending delivery per
matching subscription, in the writer's transaction."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from service.auth.clients import operator
from service.auth.tables import ApiClient
from service.database import create_session_factory
from service.journal import record_write
from service.webhooks.tables import WebhookDelivery
from tests.api.test_kpm_import_journal import roll_csv
from tests.api.webhook_setup import queued, subscribe, subscriber
from tests.factories import ClientFactory, IssuedClient, family_body, program_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

WRITER = ["kpm:read", "kpm:write"]
VILLAGE = "33.28.02.2001"


async def _deliveries_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)


async def test_a_write_queues_one_delivery_per_matching_subscription(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region="33.28", scopes=WRITER)

    async def hook(region: str | None, **fields: Any) -> tuple[IssuedClient, str]:
        client = await subscriber(clients, region)
        return client, (await subscribe(http, client, **fields))["id"]

    _, village = await hook(VILLAGE)
    _, regency_families = await hook("33.28", event_types=["kpm"])
    _, regency_programs = await hook("33.28", event_types=["program", "kube"])
    _, neighbour = await hook("33.29")
    _, national = await hook(None)
    paused_owner, paused = await hook("33.28")
    deleted_owner, deleted = await hook("33.28")
    patched = await http.patch(
        f"/api/v1/webhooks/{paused}",
        json={"status": "paused"},
        headers={**paused_owner.headers, "If-Match": '"1"'},
    )
    assert patched.status_code == 200
    assert (
        await http.delete(f"/api/v1/webhooks/{deleted}", headers=deleted_owner.headers)
    ).status_code == 204

    created = await http.post("/api/v1/kpm", json=family_body(VILLAGE), headers=writer.headers)
    assert created.status_code == 201, created.text
    family = created.json()["id"]
    one = [(family, "kpm", "create", "pending")]
    for subscription in (village, regency_families, national, paused):
        assert await queued(session, subscription) == one
    for subscription in (regency_programs, neighbour, deleted):
        assert await queued(session, subscription) == []

    changed = await http.patch(
        f"/api/v1/kpm/{family}",
        json={"address": "RT 03 RW 01"},
        headers={**writer.headers, "If-Match": created.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    assert await queued(session, village) == [*one, (family, "kpm", "update", "pending")]
    assert await queued(session, neighbour) == []


async def test_a_record_leaving_a_region_is_delivered_to_that_region(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    old_home = await subscriber(clients, VILLAGE)
    new_home = await subscriber(clients, "35.75")
    left = (await subscribe(http, old_home))["id"]
    arrived = (await subscribe(http, new_home))["id"]
    family = str(uuid.uuid4())
    # The family's move as the writers journal it: the new village, and the one it left.
    await record_write(
        session,
        operator(),
        action="update",
        entity="kpm",
        record_id=family,
        region_code="35.75.01.1001",
        version=3,
        changes={"village_code": [VILLAGE, "35.75.01.1001"]},
        previous_region_code=VILLAGE,
    )
    assert await queued(session, left) == [(family, "kpm", "update", "pending")]
    assert await queued(session, arrived) == [(family, "kpm", "update", "pending")]
    log = (await http.get(f"/api/v1/webhooks/{left}/deliveries", headers=old_home.headers)).json()
    assert [(item["record_id"], item["status"]) for item in log["items"]] == [(family, "pending")]


async def test_a_moved_family_is_delivered_to_its_new_region(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region="33.28", scopes=WRITER)
    next_village = await subscriber(clients, "33.28.02.2002")
    hook = (await subscribe(http, next_village))["id"]
    created = await http.post("/api/v1/kpm", json=family_body(VILLAGE), headers=writer.headers)
    family = created.json()["id"]
    assert await queued(session, hook) == []
    moved = await http.patch(
        f"/api/v1/kpm/{family}",
        json={"village_code": "33.28.02.2002"},
        headers={**writer.headers, "If-Match": created.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.text
    assert await queued(session, hook) == [(family, "kpm", "update", "pending")]


async def test_a_refused_write_queues_nothing(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region="33.28", scopes=WRITER)
    await subscribe(http, await subscriber(clients, None))
    body = family_body(VILLAGE)
    assert (await http.post("/api/v1/kpm", json=body, headers=writer.headers)).status_code == 201
    before = await _deliveries_count(session)
    twice = await http.post("/api/v1/kpm", json=body, headers=writer.headers)
    assert twice.status_code == 409, twice.text
    outside = await http.post(
        "/api/v1/kpm", json=family_body("33.29.01.2001"), headers=writer.headers
    )
    assert outside.status_code == 403
    assert await _deliveries_count(session) == before


async def test_parallel_writes_all_fan_out(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    """Eight writers commit at once, each on its own connection: each queues its delivery."""
    writer = await live_clients(region="33.28", scopes=["programs:write"])
    reader = await live_clients(region="33.28", scopes=["webhooks:manage", "changes:read"])
    try:
        hook = (await subscribe(live_http, reader, event_types=["program"]))["id"]
        bodies = [program_body() for _ in range(8)]
        answers = await asyncio.gather(
            *(
                live_http.post("/api/v1/programs", json=body, headers=writer.headers)
                for body in bodies
            )
        )
        assert [answer.status_code for answer in answers] == [201] * 8
        written = {answer.json()["id"] for answer in answers}
        log = (
            await live_http.get(
                f"/api/v1/webhooks/{hook}/deliveries", params={"limit": 500}, headers=reader.headers
            )
        ).json()
        delivered = [item["record_id"] for item in log["items"] if item["record_id"] in written]
        assert sorted(delivered) == sorted(written)  # each once
        assert len({item["event_id"] for item in log["items"]}) == len(log["items"])
    finally:
        async with create_session_factory(engine)() as session, session.begin():
            # The subscription and its deliveries go with the client.
            await session.execute(delete(ApiClient).where(col(ApiClient.id) == reader.client_id))


async def test_an_import_fans_out_like_single_writes(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    async with own_app.state.sessions() as session:
        factory = ClientFactory(session, own_app.state.token_keys, commit=True)
        writer = await factory(region="33.28", scopes=WRITER)
        reader = await factory(region="33.28.02", scopes=["webhooks:manage", "changes:read"])
    hook = (await subscribe(own_http, reader, event_types=["kpm"]))["id"]
    families = [family_body(VILLAGE), family_body("33.28.02.2002"), family_body("33.28.01.2001")]
    started = await own_http.post(
        "/api/v1/kpm/imports", content=roll_csv(*families), headers=writer.headers
    )
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = (await own_http.get(started.headers["location"], headers=writer.headers)).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done", job
    listed = (
        await own_http.get("/api/v1/kpm", params={"region": "33.28.02"}, headers=writer.headers)
    ).json()
    inside = {family["id"] for family in listed["items"]}
    assert len(inside) == 2  # the third lies in another district
    log = (await own_http.get(f"/api/v1/webhooks/{hook}/deliveries", headers=reader.headers)).json()
    assert sorted(item["record_id"] for item in log["items"]) == sorted(inside)
    assert {(item["event_type"], item["action"], item["status"]) for item in log["items"]} == {
        ("kpm", "create", "pending")
    }
