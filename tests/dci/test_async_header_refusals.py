"""A message the asynchronous door refuses for its header: its signature is checked first (a
client with a key gets no callback queued for an unsigned or forged message), and the refusal is
journaled under the correlation id handed back, so ``txn/status`` finds it."""

from __future__ import annotations

from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.clients import operator
from service.dci import sender_keys
from service.dci.signatures import public_jwk
from tests.dci.messages import header, send, signed
from tests.dci.test_async_acceptance import async_search, queued
from tests.factories import ClientFactory


def bad_version() -> dict[str, Any]:
    body = async_search()
    body["header"]["version"] = "0.9.0"
    return body


async def test_a_header_refusal_is_not_called_back_to_an_unsigned_sender_that_must_sign(
    http: httpx.AsyncClient, session: AsyncSession, clients: ClientFactory
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    client = await clients(region="33.26.06", scopes=["kpm:read"])
    await sender_keys.add_key(
        session, operator(), client.client_id, key_id="k1", jwk=public_jwk(key.public_key())
    )
    await session.flush()

    unsigned = await send(http, "/registry/search", bad_version(), client)
    assert (unsigned.status, unsigned.body["errors"][0]["code"]) == (401, "err.signature.missing")
    forged = signed(bad_version(), ed25519.Ed25519PrivateKey.generate())
    refused = await send(http, "/registry/search", forged, client)
    assert (refused.status, refused.body["errors"][0]["code"]) == (401, "err.signature.invalid")
    assert await queued(session, client) == []

    good = await send(http, "/registry/search", signed(bad_version(), key), client)
    assert good.body["message"]["ack_status"] == "ACK"
    [(_, body)] = await queued(session, client)
    assert body["header"]["status_reason_code"] == "rjct.version.invalid"


async def test_a_header_refusal_is_found_by_its_correlation_id(
    http: httpx.AsyncClient, session: AsyncSession, clients: ClientFactory
) -> None:
    client = await clients(region="33.26.06", scopes=["kpm:read"])
    refused = bad_version()
    acked = await send(http, "/registry/search", refused, client)
    correlation_id = acked.body["message"]["correlation_id"]
    status = {
        "header": header("txn-status", 1),
        "message": {
            "transaction_id": "t-status",
            "txnstatus_request": {
                "reference_id": "r-status",
                "txn_type": "search",
                "attribute_type": "correlation_id",
                "attribute_value": correlation_id,
            },
        },
    }
    answer = await send(http, "/registry/sync/txn/status", status, client)
    assert answer.header["status"] == "succ"
    txn = answer.body["message"]["txnstatus_response"]["txn_status"]
    assert txn["correlation_id"] == correlation_id
    assert txn["transaction_id"] == refused["message"]["transaction_id"]
    [item] = txn["search_response"]
    assert item["reference_id"] == refused["message"]["search_request"][0]["reference_id"]
    assert item["status"] == "rjct"
    assert "1.0.0" in item["status_reason_message"]
