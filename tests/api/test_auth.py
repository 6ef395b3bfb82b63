"""OAuth2 client credentials: token issue, the checks on every token, revocation and rotation."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace

import httpx
from fastapi import FastAPI
from jose import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.auth import clients as auth_clients
from service.auth.tables import ApiClient
from service.auth.tokens import TokenKeys, issue_token
from tests.factories import ClientFactory, IssuedClient, family_body

REGION_URL = "/api/v1/regions/33.28"


async def _token(http: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await http.post("/oauth/token", data={"grant_type": "client_credentials", **form})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_client_secret_post_gives_a_working_token(
    http: httpx.AsyncClient, clients: ClientFactory, app: FastAPI
) -> None:
    client = await clients(region="33.28", scopes=["kpm:read", "reports:read"])
    response = await _token(http, client_id=client.client_id, client_secret=client.secret)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "kpm:read reports:read"
    assert body["expires_in"] == app.state.settings.token_ttl_seconds
    claims = jwt.get_unverified_claims(body["access_token"])
    assert claims["sub"] == client.client_id
    assert claims["region"] == "33.28"
    assert {"iss", "aud", "exp", "iat"} <= set(claims)
    assert jwt.get_unverified_header(body["access_token"])["kid"] == "k1"

    read = await http.get(REGION_URL, headers=_bearer(body["access_token"]))
    assert read.status_code == 200
    assert read.json()["code"] == "33.28"


async def test_http_basic_and_a_narrower_scope(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(scopes=["kpm:read", "kpm:write"])
    basic = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "kpm:read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "kpm:read"

    # The token carries only what was asked for: a write needs kpm:write.
    refused = await http.post(
        "/api/v1/kpm", json=family_body(), headers=_bearer(response.json()["access_token"])
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"


async def test_refusals_are_oauth_errors_in_problem_json(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(scopes=["kpm:read"])

    wrong_secret = await _token(http, client_id=client.client_id, client_secret="not-the-secret")
    unknown_id = await _token(http, client_id=str(uuid.uuid4()), client_secret=client.secret)
    for response in (wrong_secret, unknown_id):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["error"] == "invalid_client"

    scope = await _token(
        http, client_id=client.client_id, client_secret=client.secret, scope="audit:read"
    )
    assert scope.status_code == 400
    assert scope.json()["error"] == "invalid_scope"

    grant = await http.post(
        "/oauth/token",
        data={"grant_type": "password", "client_id": client.client_id, "client_secret": "x"},
    )
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"

    missing = await http.post("/oauth/token", data={})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    assert missing.json()["errors"][0]["field"] == "grant_type"


async def test_revocation_stops_tokens_already_issued(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await clients()
    assert (await http.get(REGION_URL, headers=client.headers)).status_code == 200

    await auth_clients.revoke_client(session, auth_clients.operator(), client.client_id)
    await session.flush()

    refused = await http.get(REGION_URL, headers=client.headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    assert refused.headers["www-authenticate"] == "Bearer"
    again = await _token(http, client_id=client.client_id, client_secret=client.secret)
    assert again.status_code == 401
    audit = await session.scalars(
        select(col(AuditEntry.action)).where(col(AuditEntry.record_id) == client.client_id)
    )
    assert sorted(audit) == ["create", "revoke"]


async def test_rotation_retires_the_old_secret_and_its_tokens(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await clients()
    rotated = await auth_clients.rotate_secret(session, auth_clients.operator(), client.client_id)
    await session.flush()

    assert (await http.get(REGION_URL, headers=client.headers)).status_code == 401
    old = await _token(http, client_id=client.client_id, client_secret=client.secret)
    assert old.status_code == 401
    new = await _token(http, client_id=client.client_id, client_secret=rotated.secret)
    assert new.status_code == 200
    assert (
        await http.get(REGION_URL, headers=_bearer(new.json()["access_token"]))
    ).status_code == 200


async def test_withdrawn_scope_leaves_unexpired_tokens(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await clients(scopes=["kpm:read", "kpm:write"])
    stored = await session.get(ApiClient, uuid.UUID(client.client_id))
    assert stored is not None
    stored.scopes = ["kpm:read"]
    await session.flush()

    refused = await http.post("/api/v1/kpm", json=family_body(), headers=client.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"


def _forged(keys: TokenKeys, client: IssuedClient, **claims: object) -> str:
    base = jwt.get_unverified_claims(client.token)
    return str(jwt.encode({**base, **claims}, keys.keys["k1"], algorithm="HS256"))


async def test_every_token_claim_is_checked(
    http: httpx.AsyncClient, clients: ClientFactory, app: FastAPI
) -> None:
    keys: TokenKeys = app.state.token_keys
    client = await clients()
    client_uuid = uuid.UUID(client.client_id)

    expired = issue_token(
        keys,
        client_id=client_uuid,
        scopes=["kpm:read"],
        region_code=None,
        secret_generation=1,
        ttl_seconds=-60,
    )
    response = await http.get(REGION_URL, headers=_bearer(expired))
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"

    claims = jwt.get_unverified_claims(client.token)
    no_exp = {k: v for k, v in claims.items() if k != "exp"}
    unsigned = (
        base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"k1"}').rstrip(b"=").decode()
        + "."
        + client.token.split(".")[1]
        + "."
    )
    other_key = TokenKeys("k1", {"k1": "another-key-another-key-another-key"}, "x", "y")
    bad_tokens = {
        "wrong audience": _forged(keys, client, aud="someone-else"),
        "wrong issuer": _forged(keys, client, iss="someone-else"),
        "no exp": str(jwt.encode(no_exp, keys.keys["k1"], algorithm="HS256")),
        "alg none": unsigned,
        "unknown kid": str(
            jwt.encode(claims, keys.keys["k1"], algorithm="HS256", headers={"kid": "k9"})
        ),
        "other key": str(
            jwt.encode(claims, other_key.keys["k1"], algorithm="HS256", headers={"kid": "k1"})
        ),
        "garbage": "not.a.token",
    }
    for label, token in bad_tokens.items():
        response = await http.get(REGION_URL, headers=_bearer(token))
        assert response.status_code == 401, label
        assert response.json()["code"] == "invalid_token", label

    no_token = await http.get(REGION_URL)
    assert no_token.status_code == 401
    assert no_token.json()["code"] == "unauthorized"


async def test_tokens_signed_with_a_previous_key_still_work_after_rotation(
    http: httpx.AsyncClient, clients: ClientFactory, app: FastAPI
) -> None:
    keys: TokenKeys = app.state.token_keys
    client = await clients()
    # The operators moved to key k2 and kept k1 as a previous key.
    app.state.token_keys = replace(
        keys, current_kid="k2", keys={**keys.keys, "k2": "the-new-key-the-new-key-the-new-key"}
    )
    assert (await http.get(REGION_URL, headers=client.headers)).status_code == 200
    new = await _token(http, client_id=client.client_id, client_secret=client.secret)
    assert jwt.get_unverified_header(new.json()["access_token"])["kid"] == "k2"

    # Once k1 is dropped, its tokens stop working.
    app.state.token_keys = replace(
        keys, current_kid="k2", keys={"k2": "the-new-key-the-new-key-the-new-key"}
    )
    assert (await http.get(REGION_URL, headers=client.headers)).status_code == 401
    assert (
        await http.get(REGION_URL, headers=_bearer(new.json()["access_token"]))
    ).status_code == 200
