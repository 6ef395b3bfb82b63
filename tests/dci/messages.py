"""DCI messages as a client builds them, and the door to send them through: every request and
every answer is checked against the spec (``spec_check``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.dci.spec_check import assert_request_valid, assert_response_valid
from tests.factories import IssuedClient

SENDER = "sidesa.example.org"
_references = itertools.count(1)


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def header(action: str, total_count: int, **overrides: Any) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "message_id": str(uuid.uuid4()),
        "message_ts": now_text(),
        "action": action,
        "sender_id": SENDER,
        "receiver_id": "dinsos-exchange",
        "total_count": total_count,
        "is_msg_encrypted": False,
    } | overrides


def search_item(
    query_type: str,
    query: Any,
    *,
    entity: str = "Group",
    reference_id: str | None = None,
    **criteria: Any,
) -> dict[str, Any]:
    return {
        "reference_id": reference_id if reference_id is not None else f"ref-{next(_references)}",
        "timestamp": now_text(),
        "search_criteria": {
            "version": "1.0.0",
            "reg_type": "ns:dinsos:RegistryType:Social",
            "reg_record_type": entity,
            "response_entity": entity,
            "query_type": query_type,
            "query": query,
            **criteria,
        },
    }


def by_id(kind: str, value: str, **options: Any) -> dict[str, Any]:
    return search_item("idtype-value", {"type": kind, "value": value}, **options)


def by_expression(
    query: dict[str, Any], *, entity: str = "Group", **options: Any
) -> dict[str, Any]:
    expression = {
        "type": "expression",
        "value": {"expression": {"collection": entity, "query": query}},
    }
    return search_item("expression", expression, entity=entity, **options)


def search(*items: dict[str, Any], **header_fields: Any) -> dict[str, Any]:
    return {
        "header": header("search", len(items), **header_fields),
        "message": {
            "transaction_id": f"txn-{uuid.uuid4().hex[:12]}",
            "search_request": list(items),
        },
    }


def sign_as_client(
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    header: dict[str, Any],
    message: dict[str, Any],
    *,
    key_id: str = "k1",
    created: dt.datetime | None = None,
    lifetime: int = 300,
    algorithm_named: str | None = None,
) -> str:
    """What a DCI client does, written from the scheme's description (README, "Signatures"),
    not with the service's own functions."""
    start = int((created or dt.datetime.now(dt.UTC)).timestamp())

    def canonical(value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    digest = base64.b64encode(hashlib.blake2b(canonical(header) + canonical(message)).digest())
    data = f"(created): {start}\n(expires): {start + lifetime}\ndigest: BLAKE-512={digest.decode()}"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm, signature = "ed25519", key.sign(data.encode())
    else:
        algorithm = "es256"
        r, s = decode_dss_signature(key.sign(data.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    algorithm = algorithm_named or algorithm
    return (
        f'Signature: namespace="spdci", kidId="{header["sender_id"]}|{key_id}|{algorithm}", '
        f'algorithm="{algorithm}", created="{start}", expires="{start + lifetime}", '
        f'headers="(created) (expires) digest", signature="{base64.b64encode(signature).decode()}"'
    )


PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def verify_as_client(
    signature: str,
    header: dict[str, Any],
    message: dict[str, Any] | None,
    jwks: dict[str, Any],
    *,
    now: dt.datetime | None = None,
) -> str:
    """What a DCI client does with a message of this registry, written from the scheme's
    description (README, "Signatures") with ``cryptography`` and ``hashlib``, never with the
    service's own functions: the ``kid`` of the key that verified it, or an AssertionError."""
    assert signature.startswith("Signature:"), signature
    parameters = dict(re.findall(r'(\w+)="([^"]*)"', signature))
    assert parameters["namespace"] == "spdci"
    assert parameters["headers"] == "(created) (expires) digest"
    sender_id, key_id, algorithm = parameters["kidId"].split("|")
    assert sender_id == header["sender_id"]
    assert algorithm == parameters["algorithm"] == "ed25519"
    created, expires = int(parameters["created"]), int(parameters["expires"])
    moment = int((now or dt.datetime.now(dt.UTC)).timestamp())
    assert created <= moment + 30, (created, moment)
    assert moment < expires, (expires, moment)

    def canonical(value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    joined = canonical(header) + canonical(message if message is not None else {})
    digest = base64.b64encode(hashlib.blake2b(joined).digest()).decode()
    data = f"(created): {created}\n(expires): {expires}\ndigest: BLAKE-512={digest}".encode()
    [jwk] = [jwk for jwk in jwks["keys"] if jwk["kid"] == key_id]
    assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    public = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    public.verify(base64.b64decode(parameters["signature"]), data)  # InvalidSignature if not
    return str(key_id)


def signed(
    body: dict[str, Any],
    key: PrivateKey,
    **options: Any,
) -> dict[str, Any]:
    return {**body, "signature": sign_as_client(key, body["header"], body["message"], **options)}


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def header(self) -> dict[str, Any]:
        return self.body["header"]  # type: ignore[no-any-return]

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.body["message"]["search_response"]  # type: ignore[no-any-return]

    def records(self, index: int = 0) -> list[dict[str, Any]]:
        item = self.items[index]
        assert item["status"] == "succ", item
        return item["data"]["reg_records"]  # type: ignore[no-any-return]


async def send(
    http: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    client: IssuedClient | None,
    *,
    check_request: bool = True,
) -> Answer:
    """POST ``body`` to ``/dci{path}`` as ``client``; both checked against the spec (a request
    meant to be malformed skips its own check)."""
    if check_request:
        assert_request_valid(path, body)
    response = await http.post(f"/dci{path}", json=body, headers=client.headers if client else {})
    assert response.headers["content-type"].startswith("application/json")
    answer = Answer(response.status_code, response.json())
    assert_response_valid(path, response.status_code, answer.body)
    return answer
