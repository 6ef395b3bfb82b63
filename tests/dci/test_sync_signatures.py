"""Signed DCI messages through the door: a client with a registered key must sign, a valid
signature passes (Ed25519 and ES256), a broken one is refused with the spec's error; with
``dci_signatures_required`` every client must sign; a revoked key no longer counts."""

from __future__ import annotations

import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.clients import operator
from service.dci import sender_keys
from service.dci.signatures import public_jwk
from service.errors import NotFound, ValidationFailed
from tests.dci.messages import PrivateKey, by_id, search, send, signed
from tests.factories import ClientFactory, IssuedClient

NIK = "3326064101900011"


async def with_key(session: AsyncSession, clients: ClientFactory, key: PrivateKey) -> IssuedClient:
    client = await clients(region="33.26.06", scopes=["kpm:read"])
    await sender_keys.add_key(
        session, operator(), client.client_id, key_id="k1", jwk=public_jwk(key.public_key())
    )
    await session.flush()
    return client


@pytest.mark.parametrize(
    "key", [ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())]
)
async def test_a_client_with_a_key_must_sign(
    http: httpx.AsyncClient, session: AsyncSession, clients: ClientFactory, key: PrivateKey
) -> None:
    client = await with_key(session, clients, key)

    unsigned = await send(http, "/registry/sync/search", search(by_id("NIK", NIK)), client)
    assert (unsigned.status, unsigned.body["errors"][0]["code"]) == (401, "err.signature.missing")

    good = signed(search(by_id("NIK", NIK)), key)
    assert (await send(http, "/registry/sync/search", good, client)).header["status"] == "succ"

    tampered = signed(search(by_id("NIK", NIK)), key)
    tampered["message"]["search_request"][0]["search_criteria"]["query"]["value"] = (
        "3326064101900012"
    )
    refused = await send(http, "/registry/sync/search", tampered, client)
    assert (refused.status, refused.body["errors"][0]["code"]) == (401, "err.signature.invalid")

    stranger = signed(search(by_id("NIK", NIK)), ed25519.Ed25519PrivateKey.generate())
    refused = await send(http, "/registry/sync/search", stranger, client)
    assert refused.body["errors"][0]["code"] == "err.signature.invalid"


async def test_a_refused_signature_journals_nothing(
    http: httpx.AsyncClient, session: AsyncSession, clients: ClientFactory
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    client = await with_key(session, clients, key)
    body = search(by_id("NIK", NIK))
    assert (await send(http, "/registry/sync/search", body, client)).status == 401
    # The same message_id, now signed, is no replay: the refused one was never received.
    answer = await send(http, "/registry/sync/search", signed(body, key), client)
    assert answer.header["status"] == "succ"


async def test_a_revoked_key_no_longer_counts(
    http: httpx.AsyncClient, session: AsyncSession, clients: ClientFactory
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    client = await with_key(session, clients, key)
    await sender_keys.revoke_key(session, operator(), client.client_id, "k1")
    await session.flush()
    answer = await send(http, "/registry/sync/search", search(by_id("NIK", NIK)), client)
    assert answer.header["status"] == "succ"
    (listed,) = await sender_keys.list_keys(session, client.client_id)
    assert listed.revoked_at is not None


async def test_the_setting_makes_every_client_sign(
    app: FastAPI, http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"dci_signatures_required": True})
    client = await clients(region="33.26.06", scopes=["kpm:read"])
    unsigned = await send(http, "/registry/sync/search", search(by_id("NIK", NIK)), client)
    assert (unsigned.status, unsigned.body["errors"][0]["code"]) == (401, "err.signature.missing")
    # Signed, but with no key registered for the client: nothing to verify it with.
    body = signed(search(by_id("NIK", NIK)), ed25519.Ed25519PrivateKey.generate())
    refused = await send(http, "/registry/sync/search", body, client)
    assert refused.body["errors"][0]["code"] == "err.signature.invalid"


async def test_a_key_must_be_a_public_key_of_a_known_kind(
    session: AsyncSession, clients: ClientFactory
) -> None:
    client = await clients(region="33.26.06", scopes=["kpm:read"])
    private = ed25519.Ed25519PrivateKey.generate()
    for jwk in (
        {**public_jwk(private.public_key()), "d": "c2VjcmV0"},
        {"kty": "RSA", "n": "x", "e": "AQAB"},
        {"kty": "OKP", "crv": "Ed25519", "x": "short"},
    ):
        with pytest.raises(ValidationFailed) as refused:
            await sender_keys.add_key(session, operator(), client.client_id, key_id="k1", jwk=jwk)
        assert [error.field for error in refused.value.errors] == ["jwk"]
    with pytest.raises(NotFound):
        await sender_keys.add_key(
            session, operator(), str(uuid.uuid4()), key_id="k1",
            jwk=public_jwk(private.public_key()),
        )  # fmt: skip
