"""The DCI signature scheme on its own: what a signing client does verifies, and every way of
getting it wrong is refused with the spec's error code."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from service.dci.reasons import DciRejection
from service.dci.signatures import ServiceSigner, public_jwk, verify_signature
from service.dci.tables import SenderKey
from tests.dci.messages import sign_as_client, verify_as_client

NOW = dt.datetime.now(dt.UTC)
HEADER = {"message_id": "m-1", "sender_id": "spmis.example.org", "action": "search"}
MESSAGE = {"transaction_id": "t-1", "search_request": [], "name": "Siti Aminah ñ"}


def registered(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> SenderKey:
    algorithm = "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "es256"
    return SenderKey(
        client_id=uuid.uuid4(), key_id="k1", algorithm=algorithm,
        public_jwk=public_jwk(key.public_key()),
    )  # fmt: skip


@pytest.mark.parametrize(
    "key", [ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())]
)
def test_a_client_signature_verifies(
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
) -> None:
    text = sign_as_client(key, HEADER, MESSAGE)
    assert (
        verify_signature(
            text, HEADER, MESSAGE, [registered(key)], now=dt.datetime.now(dt.UTC)
        ).key_id
        == "k1"
    )


def test_a_changed_message_or_another_key_is_refused() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    text = sign_as_client(key, HEADER, MESSAGE)
    other = registered(ed25519.Ed25519PrivateKey.generate())
    cases: list[tuple[str | None, dict[str, Any], list[SenderKey], str]] = [
        (text, {**MESSAGE, "transaction_id": "t-2"}, [registered(key)], "err.signature.invalid"),
        (text, MESSAGE, [other], "err.signature.invalid"),
        (sign_as_client(key, HEADER, MESSAGE, key_id="k9"), MESSAGE, [registered(key)],
         "err.signature.invalid"),
        (sign_as_client(key, HEADER, MESSAGE, created=NOW - dt.timedelta(hours=1)), MESSAGE,
         [registered(key)], "err.signature.invalid"),
        ("Signature: nonsense", MESSAGE, [registered(key)], "err.signature.invalid"),
        (None, MESSAGE, [registered(key)], "err.signature.missing"),
    ]  # fmt: skip
    for signature, message, keys, code in cases:
        with pytest.raises(DciRejection) as refused:
            verify_signature(signature, HEADER, message, keys, now=dt.datetime.now(dt.UTC))
        assert refused.value.code == code
        assert refused.value.http_status == 401


def test_the_service_signature_verifies_with_its_published_key() -> None:
    signer = ServiceSigner("dinsos-exchange", "dci-1", ed25519.Ed25519PrivateKey.generate())
    header = {**HEADER, "sender_id": "dinsos-exchange"}
    text = signer.sign(header, MESSAGE)
    (jwk,) = signer.jwks()["keys"]
    assert jwk["kid"] == "dci-1"
    assert jwk["kty"] == "OKP"
    assert "d" not in jwk
    # Verified as a client would, with code of its own.
    assert verify_as_client(text, header, MESSAGE, signer.jwks()) == "dci-1"
