"""DCI message signatures (the spec's ``MsgSignature``), Beckn/DCI style.

What is signed. The canonical form of a message is its ``header`` and its ``message`` each
written as JSON with sorted keys, compact separators (``,`` and ``:``), non-ASCII characters as
themselves, in UTF-8, the two texts joined with nothing between them (the spec's
"{header}+{message}"): ``canonical_bytes``. Its digest is BLAKE2b-512, in base64. The signed
string is three lines::

    (created): 1606970629
    (expires): 1607030629
    digest: BLAKE-512=<base64 of blake2b-512(canonical bytes)>

and the signature text, the value of the envelope's ``signature``, is::

    Signature: namespace="spdci", kidId="{sender_id}|{key_id}|{algorithm}",
    algorithm="ed25519", created="1606970629", expires="1607030629",
    headers="(created) (expires) digest", signature="<base64 of the signature>"

(one line; ``Signature:`` prefix optional). ``algorithm`` is ``ed25519`` (the 64-byte Ed25519
signature) or ``es256`` (ECDSA P-256 over SHA-256, the 64-byte ``r || s`` as in JWS). A
signature is accepted when its ``kidId`` names the header's ``sender_id`` and a key registered
for the client (not revoked, of that algorithm), ``created`` is at most
``dci_signature_max_age_seconds`` old and not in the future (30 s of leeway), ``expires`` has
not passed, and the signature verifies over the signed string.

This registry signs its own answers and callbacks the same way with an Ed25519 key of its own,
published as a JWKS at ``/dci/.well-known/jwks.json``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from service.dci import reasons
from service.dci.reasons import DciRejection
from service.dci.tables import SenderKey
from service.settings import Settings

NAMESPACE = "spdci"
SIGNED_HEADERS = "(created) (expires) digest"
CLOCK_LEEWAY_SECONDS = 30
KEY_FILE = "dci-signing-key.pem"

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def canonical_bytes(header: Mapping[str, Any], message: Mapping[str, Any] | None) -> bytes:
    """The bytes a signature covers: header and message as canonical JSON, joined."""
    return _canonical(header) + _canonical(message if message is not None else {})


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(header: Mapping[str, Any], message: Mapping[str, Any] | None) -> str:
    hashed = hashlib.blake2b(canonical_bytes(header, message), digest_size=64).digest()
    return "BLAKE-512=" + base64.b64encode(hashed).decode()


def signing_string(created: int, expires: int, message_digest: str) -> bytes:
    return f"(created): {created}\n(expires): {expires}\ndigest: {message_digest}".encode()


def signature_text(
    *, sender_id: str, key_id: str, algorithm: str, created: int, expires: int, signature: bytes
) -> str:
    return (
        f'Signature: namespace="{NAMESPACE}", kidId="{sender_id}|{key_id}|{algorithm}", '
        f'algorithm="{algorithm}", created="{created}", expires="{expires}", '
        f'headers="{SIGNED_HEADERS}", signature="{base64.b64encode(signature).decode()}"'
    )


_PARAMETER = re.compile(r'([A-Za-z]+)="([^"]*)"')


@dataclass(frozen=True)
class ParsedSignature:
    sender_id: str
    key_id: str
    algorithm: str
    created: int
    expires: int
    signature: bytes


def parse_signature(text: str) -> ParsedSignature:
    """The parts of a signature text; ``err.signature.invalid`` when it is not one."""
    body = text.strip()
    if body.lower().startswith("signature:"):
        body = body[len("signature:") :]
    parameters = dict(_PARAMETER.findall(body))
    try:
        sender_id, key_id, kid_algorithm = parameters["kidId"].split("|")
        algorithm = parameters.get("algorithm", kid_algorithm).lower()
        created, expires = int(parameters["created"]), int(parameters["expires"])
        signature = base64.b64decode(parameters["signature"], validate=True)
    except (KeyError, ValueError) as error:
        raise DciRejection(
            reasons.SIGNATURE_INVALID, "The signature is not in the DCI signature form."
        ) from error
    if kid_algorithm.lower() != algorithm or parameters.get("headers", SIGNED_HEADERS) != (
        SIGNED_HEADERS
    ):
        raise DciRejection(
            reasons.SIGNATURE_INVALID,
            f'The signature must cover headers="{SIGNED_HEADERS}" with the kidId\'s algorithm.',
        )
    return ParsedSignature(sender_id, key_id, algorithm, created, expires, signature)


# --- keys ------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_from_jwk(jwk: Mapping[str, Any]) -> tuple[str, PublicKey]:
    """(algorithm, key) of a public JWK: OKP/Ed25519 ("ed25519") or EC/P-256 ("es256").
    A ``ValueError`` says what is wrong with it."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if "d" in jwk:
        raise ValueError("This JWK holds a private key: register the public key only.")
    try:
        if kty == "OKP" and crv == "Ed25519":
            return "ed25519", ed25519.Ed25519PublicKey.from_public_bytes(
                _b64url_decode(str(jwk["x"]))
            )
        if kty == "EC" and crv == "P-256":
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(_b64url_decode(str(jwk["x"])), "big"),
                int.from_bytes(_b64url_decode(str(jwk["y"])), "big"),
                ec.SECP256R1(),
            )
            return "es256", numbers.public_key()
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"Not a usable {kty}/{crv} public key: {error}") from error
    raise ValueError("Only OKP/Ed25519 and EC/P-256 public keys are accepted.")


def public_jwk(key: PublicKey) -> dict[str, str]:
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }


def _verifies(algorithm: str, key: PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        if algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return True
        if algorithm == "es256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
            return True
    except InvalidSignature:
        return False
    return False


def verify_signature(
    text: str | None,
    header: Mapping[str, Any],
    message: Mapping[str, Any] | None,
    keys: Sequence[SenderKey],
    *,
    now: dt.datetime,
    max_age_seconds: int = 300,
) -> SenderKey:
    """The key that ``text`` is a valid signature of header and message with, among ``keys``
    (the client's keys not revoked); else ``err.signature.missing`` / ``err.signature.invalid``.
    """
    if not text:
        raise DciRejection(reasons.SIGNATURE_MISSING, "This client's messages must be signed.")
    parsed = parse_signature(text)
    if parsed.sender_id != header.get("sender_id"):
        raise DciRejection(
            reasons.SIGNATURE_INVALID, "The signature's kidId names another sender_id."
        )
    moment = int(now.timestamp())
    if parsed.created > moment + CLOCK_LEEWAY_SECONDS or parsed.expires < parsed.created:
        raise DciRejection(reasons.SIGNATURE_INVALID, "The signature's created time is wrong.")
    if parsed.expires < moment - CLOCK_LEEWAY_SECONDS:
        raise DciRejection(reasons.SIGNATURE_INVALID, "The signature has expired.")
    if parsed.created < moment - max_age_seconds:
        raise DciRejection(
            reasons.SIGNATURE_INVALID,
            f"The signature was created more than {max_age_seconds} seconds ago.",
        )
    key = next((k for k in keys if k.key_id == parsed.key_id and k.revoked_at is None), None)
    if key is None or key.algorithm != parsed.algorithm:
        raise DciRejection(
            reasons.SIGNATURE_INVALID, "The signature's key is not registered for this client."
        )
    _, public = public_key_from_jwk(key.public_jwk)
    data = signing_string(parsed.created, parsed.expires, digest(header, message))
    if not _verifies(parsed.algorithm, public, parsed.signature, data):
        raise DciRejection(reasons.SIGNATURE_INVALID, "The signature does not verify.")
    return key


# --- this registry's own key -----------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSigner:
    """Signs this registry's answers and callbacks (Ed25519)."""

    registry_id: str
    key_id: str
    private_key: ed25519.Ed25519PrivateKey
    ttl_seconds: int = 300

    def sign(
        self,
        header: Mapping[str, Any],
        message: Mapping[str, Any] | None,
        *,
        now: dt.datetime | None = None,
    ) -> str:
        created = int((now or dt.datetime.now(dt.UTC)).timestamp())
        expires = created + self.ttl_seconds
        data = signing_string(created, expires, digest(header, message))
        return signature_text(
            sender_id=self.registry_id,
            key_id=self.key_id,
            algorithm="ed25519",
            created=created,
            expires=expires,
            signature=self.private_key.sign(data),
        )

    def jwks(self) -> dict[str, Any]:
        jwk = public_jwk(self.private_key.public_key())
        return {"keys": [{**jwk, "kid": self.key_id, "alg": "EdDSA", "use": "sig"}]}


def _stored_key(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_bytes()
    data_dir.mkdir(parents=True, exist_ok=True)
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Created with owner-only permissions before the key is written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this service made it meanwhile
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return pem


def service_signer(settings: Settings) -> ServiceSigner:
    """The signer of ``dci_signing_key`` (an Ed25519 private key, PEM), or of a key generated
    once into the data folder (as the token key is, ``service.auth.keys``)."""
    pem = (
        settings.dci_signing_key.get_secret_value().encode()
        if settings.dci_signing_key is not None
        else _stored_key(settings.data_dir)
    )
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError("DINSOS_DCI_SIGNING_KEY must be an Ed25519 private key (PEM).")
    return ServiceSigner(
        registry_id=settings.dci_registry_id,
        key_id=settings.dci_signing_key_id,
        private_key=key,
        ttl_seconds=settings.dci_signature_max_age_seconds,
    )


def signed_envelope(
    signer: ServiceSigner, header: dict[str, Any], message: dict[str, Any] | None
) -> dict[str, Any]:
    """``{signature, header, message}`` signed by this registry (no ``message`` when None)."""
    envelope: dict[str, Any] = {"signature": signer.sign(header, message), "header": header}
    if message is not None:
        envelope["message"] = message
    return envelope


def es256_signature(der: bytes) -> bytes:
    """A DER ECDSA signature as the 64-byte ``r || s`` of this scheme (for signing clients)."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
