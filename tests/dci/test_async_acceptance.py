"""What the asynchronous door accepts and queues, read back from the outbox (no dispatcher): a
client with a registered key must sign here too, and a refused message queues nothing; an
accepted one queues its callback, unsigned until it is sent, for the sender's address; a
callback address the policy refuses is an error at once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.auth.clients import operator
from service.dci import sender_keys
from service.dci.signatures import public_jwk
from tests.dci.messages import by_id, search, signed
from tests.dci.spec_check import assert_request_valid, assert_response_valid
from tests.factories import ClientFactory, IssuedClient

CALLBACK = "https://spmis.example.org/dinsos/on-search"
NIK = "3326064101900011"


def async_search(sender_uri: str = CALLBACK) -> dict[str, Any]:
    body = search(by_id("NIK", NIK))
    body["header"]["sender_uri"] = sender_uri
    return body


async def post(
    http: httpx.AsyncClient, body: dict[str, Any], client: IssuedClient
) -> httpx.Response:
    assert_request_valid("/registry/search", body)
    answer = await http.post("/dci/registry/search", json=body, headers=client.headers)
    assert_response_valid("/registry/search", answer.status_code, answer.json())
    return answer


async def queued(session: AsyncSession, client: IssuedClient) -> list[tuple[str, Any]]:
    """(channel URL, prebuilt body) of the client's queued DCI messages."""
    rows = await session.execute(
        text(
            "SELECT s.url, d.body FROM webhook_delivery d"
            " JOIN webhook_subscription s ON s.id = d.subscription_id"
            " WHERE s.client_id = :client AND s.kind = 'dci-callback' ORDER BY d.id"
        ),
        {"client": uuid.UUID(client.client_id)},
    )
    return [(url, body) for url, body in rows.all()]


async def test_a_client_with_a_key_must_sign_and_a_refusal_queues_nothing(
    http: httpx.AsyncClient, session: AsyncSession, clients: ClientFactory
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    client = await clients(region="33.26.06", scopes=["kpm:read"])
    await sender_keys.add_key(
        session, operator(), client.client_id, key_id="k1", jwk=public_jwk(key.public_key())
    )
    await session.flush()

    unsigned = await post(http, async_search(), client)
    assert unsigned.status_code == 401, unsigned.text
    assert unsigned.json()["errors"][0]["code"] == "err.signature.missing"
    assert await queued(session, client) == []

    good = await post(http, signed(async_search(), key), client)
    assert good.status_code == 200, good.text
    ack = good.json()["message"]
    assert ack["ack_status"] == "ACK"
    [(url, body)] = await queued(session, client)
    assert url == CALLBACK
    # Signed when sent, at each attempt; queued as header and message.
    assert set(body) == {"header", "message"}
    assert body["header"]["action"] == "on-search"
    assert body["message"]["correlation_id"] == ack["correlation_id"]


@pytest.mark.parametrize(
    ("sender_uri", "why"),
    [
        ("http://spmis.example.org/on-search", "https"),
        ("https://10.1.2.3/on-search", "private"),
        ("https://user:secret@spmis.example.org/on-search", "password"),
    ],
)
async def test_a_callback_address_the_policy_refuses_is_an_error_at_once(
    http: httpx.AsyncClient,
    session: AsyncSession,
    clients: ClientFactory,
    sender_uri: str,
    why: str,
) -> None:
    client = await clients(region="33.26.06", scopes=["kpm:read"])
    refused = await post(http, async_search(sender_uri), client)
    assert refused.status_code == 403, refused.text
    [error] = refused.json()["errors"]
    assert error["code"] == "err.sender_uri.invalid"
    assert why in error["message"]
    assert "secret" not in error["message"]
    assert await queued(session, client) == []


async def test_a_search_needs_kpm_read(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    client = await clients(region="33.26.06", scopes=["changes:read"])
    refused = await post(http, async_search(), client)
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["code"] == "err.request.forbidden"


async def test_first_callbacks_to_one_address_at_once_share_one_channel(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    client = await live_clients(region="33.26.06", scopes=["kpm:read"])
    address = f"https://spmis.example.org/{uuid.uuid4().hex}/on-search"
    answers = await asyncio.gather(*(post(live_http, async_search(address), client) for _ in "ab"))
    assert [answer.json()["message"]["ack_status"] for answer in answers] == ["ACK", "ACK"]
    async with engine.begin() as connection:
        channels = (
            await connection.execute(
                text(
                    "UPDATE webhook_subscription SET deleted_at = now()"
                    " WHERE client_id = :client RETURNING id"
                ),
                {"client": uuid.UUID(client.client_id)},
            )
        ).all()
        deliveries = await connection.scalar(
            text("SELECT count(*) FROM webhook_delivery WHERE subscription_id = :id"),
            {"id": channels[0][0]},
        )
    assert len(channels) == 1
    assert deliveries == 2
