"""Signatures checked with code of the test's own (``verify_as_client``: ``cryptography`` and
``hashlib`` following the README's description), not the service's: this registry's answers
verify with the key it publishes; and the ways a client's signature can be wrong that a shared
bug would hide: expired, an algorithm in kidId that is not its key's, another client's key id."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.clients import operator
from service.dci import sender_keys
from service.dci.signatures import public_jwk
from tests.dci.messages import PrivateKey, by_id, search, send, signed, verify_as_client
from tests.factories import ClientFactory, IssuedClient

NIK = "3326064101900011"


async def with_key(
    session: AsyncSession, clients: ClientFactory, key: PrivateKey, key_id: str = "k1"
) -> IssuedClient:
    client = await clients(region="33.26.06", scopes=["kpm:read"])
    await sender_keys.add_key(
        session, operator(), client.client_id, key_id=key_id, jwk=public_jwk(key.public_key())
    )
    await session.flush()
    return client


async def test_the_registrys_answers_verify_with_its_published_key(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(region="33.26.06", scopes=["kpm:read"])
    jwks = (await http.get("/dci/.well-known/jwks.json")).json()
    for body in (search(by_id("NIK", NIK)), search(by_id("NIK", NIK), version="0.9.0")):
        answer = await send(http, "/registry/sync/search", body, client)
        assert (
            verify_as_client(
                answer.body["signature"], answer.header, answer.body.get("message"), jwks
            )
            == jwks["keys"][0]["kid"]
        )
        forged = {
            **answer.header,
            "status": "succ" if answer.header["status"] != "succ" else "rjct",
        }
        with pytest.raises(InvalidSignature):
            verify_as_client(answer.body["signature"], forged, answer.body.get("message"), jwks)


async def test_an_expired_signature_is_refused(
    http: httpx.AsyncClient, session: AsyncSession, clients: ClientFactory
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    client = await with_key(session, clients, key)
    # Made two minutes ago, expired 90 s ago (past the 30 s allowed for clocks).
    created = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
    expired = signed(search(by_id("NIK", NIK)), key, created=created, lifetime=30)
    refused = await send(http, "/registry/sync/search", expired, client)
    assert (refused.status, refused.body["errors"][0]["code"]) == (401, "err.signature.invalid")
    fresh = signed(search(by_id("NIK", NIK)), key, created=created, lifetime=240)
    assert (await send(http, "/registry/sync/search", fresh, client)).header["status"] == "succ"


async def test_a_kid_algorithm_that_is_not_the_keys_is_refused(
    http: httpx.AsyncClient, session: AsyncSession, clients: ClientFactory
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    client = await with_key(session, clients, key)
    # An ES256 signature by a P-256 key under the Ed25519 key's id, named es256.
    impostor = ec.generate_private_key(ec.SECP256R1())
    body = signed(search(by_id("NIK", NIK)), impostor)
    refused = await send(http, "/registry/sync/search", body, client)
    assert (refused.status, refused.body["errors"][0]["code"]) == (401, "err.signature.invalid")
    # The Ed25519 signature itself, but kidId and algorithm say es256.
    body = signed(search(by_id("NIK", NIK)), key, algorithm_named="es256")
    refused = await send(http, "/registry/sync/search", body, client)
    assert (refused.status, refused.body["errors"][0]["code"]) == (401, "err.signature.invalid")


async def test_a_client_signing_with_another_clients_key_is_refused(
    http: httpx.AsyncClient, session: AsyncSession, clients: ClientFactory
) -> None:
    theirs, mine = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    await with_key(session, clients, theirs, key_id="their-key")
    client = await with_key(session, clients, mine, key_id="my-key")
    body = signed(search(by_id("NIK", NIK)), theirs, key_id="their-key")
    refused = await send(http, "/registry/sync/search", body, client)
    assert (refused.status, refused.body["errors"][0]["code"]) == (401, "err.signature.invalid")
    body = signed(search(by_id("NIK", NIK)), mine, key_id="my-key")
    assert (await send(http, "/registry/sync/search", body, client)).header["status"] == "succ"
