"""Webhook subscriptions for the webhook pairs: made through the running service's
``POST /api/v1/webhooks`` when it has one, otherwise written straight into
``webhook_subscription`` (the table is what the outbox reads); removed again with their
deliveries. And the Standard Webhooks signature, for the baseline that posts by itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

import asyncpg
import httpx

from bench.database import BenchDatabase


@dataclass(frozen=True)
class Subscription:
    id: uuid.UUID
    url: str
    secret: str


@dataclass(frozen=True)
class Subscriptions:
    items: list[Subscription]
    # "api" (the service's own endpoint) or "sql" (rows inserted by the harness).
    made_by: str
    # Why not through the API, when not.
    why_not_api: str | None = None

    def describe(self) -> str:
        if self.made_by == "api":
            return "made through POST /api/v1/webhooks"
        return f"written as rows ({self.why_not_api})"


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of Standard Webhooks (v1: HMAC-SHA256, base64)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _why(response: httpx.Response) -> str:
    """The codes of a problem+json answer (``url: https_required``), when it is one."""
    try:
        errors = response.json().get("errors") or []
        return (
            " (" + ", ".join(f"{e['field']}: {e['code']}" for e in errors) + ")" if errors else ""
        )
    except (ValueError, AttributeError, KeyError, TypeError):
        return ""


async def _through_api(service_url: str, token: str, urls: list[str]) -> list[uuid.UUID] | str:
    """The subscriptions made by the service; why not, when it refuses the first one (no such
    endpoint yet, or a receiver address it does not accept)."""
    made: list[uuid.UUID] = []
    async with httpx.AsyncClient(
        base_url=service_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        for url in urls:
            response = await http.post(
                "/api/v1/webhooks", json={"url": url, "description": "bench receiver"}
            )
            if 400 <= response.status_code < 500 and not made:
                return f"POST /api/v1/webhooks answered {response.status_code}{_why(response)}"
            if response.status_code != 201:
                raise RuntimeError(
                    f"POST /api/v1/webhooks refused: {response.status_code} {response.text}"
                )
            made.append(uuid.UUID(response.json()["id"]))
    return made


async def create_subscriptions(
    database: BenchDatabase, service_url: str, token: str, client_id: str, urls: list[str]
) -> Subscriptions:
    """One subscription per URL, every event type, for the bench client (national: every
    event matches)."""
    made = await _through_api(service_url, token, urls)
    why_not = made if isinstance(made, str) else None
    connection = await asyncpg.connect(database.dsn)
    try:
        if isinstance(made, str):
            rows = await connection.fetch(
                "INSERT INTO webhook_subscription (client_id, url, secret, description, status)"
                " SELECT $1, url, secret, 'bench receiver', 'active'"
                " FROM unnest($2::text[], $3::text[]) AS s(url, secret)"
                " RETURNING id, url, secret",
                uuid.UUID(client_id),
                urls,
                [new_secret() for _ in urls],
            )
            way = "sql"
        else:
            rows = await connection.fetch(
                "SELECT id, url, secret FROM webhook_subscription WHERE id = any($1::uuid[])"
                " ORDER BY url",
                made,
            )
            way = "api"
    finally:
        await connection.close()
    items = [Subscription(row["id"], row["url"], row["secret"]) for row in rows]
    return Subscriptions(items, way, why_not)


async def remove_subscriptions(database: BenchDatabase, subscriptions: Subscriptions) -> None:
    """The subscriptions and everything queued for them (deliveries, attempts) are deleted."""
    connection = await asyncpg.connect(database.dsn)
    try:
        await connection.execute(
            "DELETE FROM webhook_subscription WHERE id = any($1::uuid[])",
            [item.id for item in subscriptions.items],
        )
    finally:
        await connection.close()
