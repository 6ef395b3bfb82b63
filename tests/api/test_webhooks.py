"""Webhook subscriptions over REST: a client manages its own, and nothing of another's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from service.settings import Settings
from service.webhooks.tables import WebhookSubscription
from tests.api.webhook_setup import HOOK_URL, subscribe, subscriber
from tests.factories import ClientFactory

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def test_create_returns_the_secret_once_and_reads_back(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await subscriber(clients, "33.28")
    response = await http.post(
        "/api/v1/webhooks",
        json={"url": HOOK_URL, "event_types": ["kube", "kpm", "kpm"], "description": "SIDesa"},
        headers=client.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 40
    assert response.headers["Location"] == f"/api/v1/webhooks/{created['id']}"
    assert response.headers["ETag"] == '"1"'

    read = await http.get(f"/api/v1/webhooks/{created['id']}", headers=client.headers)
    assert read.status_code == 200
    body = read.json()
    assert "secret" not in body
    assert body["url"] == HOOK_URL
    assert body["event_types"] == ["kpm", "kube"]  # sorted, once each
    assert (body["description"], body["status"], body["version"]) == ("SIDesa", "active", 1)
    stored = await session.get_one(WebhookSubscription, created["id"])
    assert stored.secret == created["secret"]
    assert str(stored.client_id) == client.client_id


async def test_list_is_paged_and_holds_only_the_clients_own(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await subscriber(clients, "33.28")
    other = await subscriber(clients, "33.28")
    mine = {(await subscribe(http, client, description=f"hook {n}"))["id"] for n in range(3)}
    await subscribe(http, other)
    first = (await http.get("/api/v1/webhooks?limit=2", headers=client.headers)).json()
    assert len(first["items"]) == 2
    second = (
        await http.get(
            "/api/v1/webhooks",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=client.headers,
        )
    ).json()
    assert second["next_cursor"] is None
    assert {item["id"] for item in first["items"] + second["items"]} == mine


async def test_another_clients_subscription_is_not_found(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    owner = await subscriber(clients, None)
    stranger = await subscriber(clients, None)  # national, every scope it needs: still 404
    hook = (await subscribe(http, owner))["id"]
    base = f"/api/v1/webhooks/{hook}"
    headers = {**stranger.headers, "If-Match": '"1"'}
    answers = [
        await http.get(base, headers=headers),
        await http.patch(base, json={"description": "mine now"}, headers=headers),
        await http.delete(base, headers=headers),
        await http.post(f"{base}/rotate-secret", headers=headers),
        await http.get(f"{base}/deliveries", headers=headers),
        await http.get(f"{base}/deliveries/1", headers=headers),
        await http.post(f"{base}/deliveries/1/redeliver", headers=headers),
        await http.post(f"{base}/redeliver-parked", headers=headers),
    ]
    assert [answer.status_code for answer in answers] == [404] * len(answers)
    assert all(answer.headers["content-type"] == "application/problem+json" for answer in answers)
    # Untouched: the owner still reads version 1.
    assert (await http.get(base, headers=owner.headers)).json()["version"] == 1


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"url": "http://sidesa.example.go.id/hook"}, "url", "https_required"),
        ({"url": "sidesa.example.go.id/hook"}, "url", "https_required"),
        ({"url": "https:///hook"}, "url", "invalid_url"),
        ({"url": "https://sidesa.example.go.id:port/hook"}, "url", "invalid_url"),
        ({"url": "https://user:pw@sidesa.example.go.id/hook"}, "url", "invalid_url"),
        ({"url": "https://sidesa.example.go.id/a hook"}, "url", "invalid_url"),
        ({"url": "https://sidesa.example.go.id/\u0000"}, "url", "invalid_url"),
        ({"url": HOOK_URL, "event_types": ["kpm", "family"]}, "event_types", "unknown_type"),
    ],
)
async def test_create_refuses_bad_input_naming_the_field(
    http: httpx.AsyncClient, clients: ClientFactory, body: dict[str, object], field: str, code: str
) -> None:
    client = await subscriber(clients, None)
    response = await http.post("/api/v1/webhooks", json=body, headers=client.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(field, code)]
    listed = (await http.get("/api/v1/webhooks", headers=client.headers)).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"url": 17},
        {"url": HOOK_URL, "event_types": "kpm"},
        {"url": HOOK_URL, "secret": "whsec_mine"},
        {"event_types": []},
        {"url": "https://" + "a" * 2000 + ".id"},
    ],
)
async def test_malformed_bodies_are_422_never_500(
    http: httpx.AsyncClient, clients: ClientFactory, body: dict[str, object]
) -> None:
    client = await subscriber(clients, None)
    response = await http.post("/api/v1/webhooks", json=body, headers=client.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]


@pytest.mark.parametrize(
    ("scopes", "missing"),
    [(["changes:read"], "webhooks:manage"), (["webhooks:manage"], "changes:read")],
)
async def test_subscribing_needs_both_scopes(
    http: httpx.AsyncClient, clients: ClientFactory, scopes: list[str], missing: str
) -> None:
    client = await clients(region="33.28", scopes=scopes)
    response = await http.post("/api/v1/webhooks", json={"url": HOOK_URL}, headers=client.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert missing in response.json()["detail"]


async def test_managing_needs_the_scope(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    reader = await clients(region="33.28", scopes=["changes:read"])
    assert (await http.get("/api/v1/webhooks", headers=reader.headers)).status_code == 403


async def test_patch_changes_what_was_sent_and_needs_the_version(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await subscriber(clients, "33.28")
    hook = await subscribe(http, client, event_types=["kpm"], description="old")
    url = f"/api/v1/webhooks/{hook['id']}"
    change = {"url": "https://sidesa.example.go.id/v2", "event_types": [], "status": "paused"}
    missing = await http.patch(url, json=change, headers=client.headers)
    assert (missing.status_code, missing.json()["code"]) == (428, "if_match_required")
    patched = await http.patch(url, json=change, headers={**client.headers, "If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    stale = await http.patch(
        url, json={"description": "x"}, headers={**client.headers, "If-Match": '"1"'}
    )
    assert (stale.status_code, stale.json()["code"]) == (412, "version_mismatch")
    read = (await http.get(url, headers=client.headers)).json()
    assert (read["url"], read["event_types"], read["status"]) == (change["url"], [], "paused")
    assert (read["description"], read["version"]) == ("old", 2)
    resumed = await http.patch(
        url, json={"status": "active"}, headers={**client.headers, "If-Match": '"2"'}
    )
    assert resumed.json()["status"] == "active"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "failing"}, "status"),
        ({"status": None}, "status"),
        ({"url": None}, "url"),
        ({"url": "http://sidesa.example.go.id/v2"}, "url"),
        ({"event_types": ["kpm", "nope"]}, "event_types"),
        ({"event_types": None}, "event_types"),
        ({"client_id": "00000000-0000-0000-0000-000000000000"}, "client_id"),
    ],
)
async def test_patch_refuses_bad_input_naming_the_field(
    http: httpx.AsyncClient, clients: ClientFactory, change: dict[str, object], field: str
) -> None:
    client = await subscriber(clients, "33.28")
    hook = await subscribe(http, client)
    url = f"/api/v1/webhooks/{hook['id']}"
    response = await http.patch(url, json=change, headers={**client.headers, "If-Match": '"1"'})
    assert response.status_code == 422, response.text
    assert field in {error["field"] for error in response.json()["errors"]}
    assert (await http.get(url, headers=client.headers)).json()["version"] == 1


async def test_delete_removes_it_from_reach(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await subscriber(clients, "33.28")
    kept = await subscribe(http, client)
    gone = await subscribe(http, client)
    url = f"/api/v1/webhooks/{gone['id']}"
    stale = await http.delete(url, headers={**client.headers, "If-Match": '"7"'})
    assert stale.status_code == 412
    assert (await http.delete(url, headers=client.headers)).status_code == 204
    assert (await http.get(url, headers=client.headers)).status_code == 404
    assert (await http.delete(url, headers=client.headers)).status_code == 404
    listed = (await http.get("/api/v1/webhooks", headers=client.headers)).json()
    assert [item["id"] for item in listed["items"]] == [kept["id"]]
    stored = await session.get_one(WebhookSubscription, gone["id"])
    assert stored.deleted_at is not None


async def test_rotation_returns_a_new_secret_and_keeps_the_old_for_the_grace_period(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await subscriber(clients, "33.28")
    hook = await subscribe(http, client)
    before = datetime.now(UTC)
    rotated = await http.post(
        f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=client.headers
    )
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != hook["secret"]
    assert body["version"] == 2
    expires = datetime.fromisoformat(body["previous_secret_expires_at"])
    assert before + timedelta(hours=24) <= expires <= datetime.now(UTC) + timedelta(hours=24)
    stored = await session.get_one(WebhookSubscription, hook["id"])
    await session.refresh(stored)
    assert (stored.secret, stored.previous_secret) == (body["secret"], hook["secret"])
    # A second rotation: the first secret is gone at once, the second is the previous one.
    again = (
        await http.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=client.headers)
    ).json()
    await session.refresh(stored)
    assert (stored.secret, stored.previous_secret) == (again["secret"], body["secret"])
    assert (
        "secret"
        not in (await http.get(f"/api/v1/webhooks/{hook['id']}", headers=client.headers)).json()
    )


async def test_the_grace_period_is_a_setting(
    app: FastAPI,
    settings: Settings,
    http: httpx.AsyncClient,
    clients: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DINSOS_WEBHOOK_SECRET_GRACE_HOURS", "2")
    assert Settings().webhook_secret_grace_hours == 2
    app.state.settings = settings.model_copy(update={"webhook_secret_grace_hours": 2})
    client = await subscriber(clients, None)
    hook = await subscribe(http, client)
    body = (
        await http.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=client.headers)
    ).json()
    expires = datetime.fromisoformat(body["previous_secret_expires_at"])
    assert expires <= datetime.now(UTC) + timedelta(hours=2)
    assert expires > datetime.now(UTC) + timedelta(hours=1, minutes=59)
