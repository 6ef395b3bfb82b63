"""The OWASP API Security Top 10 (2023), one test per item, named after it, each a short direct
proof through the HTTP API. Each docstring names where the deeper tests of that item are."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from jose import jwt
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount

from service.auth import clients as auth_clients
from service.auth.tokens import TokenKeys, issue_token
from service.kpm.import_files import FIELDS
from service.webhooks.targets import ANSWER_CAP, TargetClient, TargetPolicy
from tests.factories import (
    ClientFactory,
    allocation_body,
    disbursement_body,
    family_body,
    insert_families,
    money_headers,
    new_allocation,
)

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

WRITER = ["kpm:read", "kpm:write"]
TEGAL_VILLAGE = "33.28.02.2001"  # Guci, Bumijawa, Kabupaten Tegal
PASURUAN = "35.75"  # Kota Pasuruan, another province


async def _graphql(
    http: httpx.AsyncClient, headers: dict[str, str], query: str, **variables: Any
) -> dict[str, Any]:
    answer = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = answer.json()
    return body


async def _new_family(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    body = family_body(TEGAL_VILLAGE)
    created = await http.post("/api/v1/kpm", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"]), body


async def test_api1_broken_object_level_authorization(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """A family of Kabupaten Tegal, by its id, to an office of Kota Pasuruan: not found, on
    reads and writes and through both doors, so that not even its existence shows.

    Deeper: tests/api/test_region_matrix.py (every operation of both doors, probed by region,
    with tests/api/test_region_coverage.py checking nothing was left out), test_access_matrix.py,
    test_kube_access.py, test_money_access.py, test_training_access.py."""
    tegal = await clients(region="33.28", scopes=WRITER)
    pasuruan = await clients(region=PASURUAN, scopes=WRITER)
    family_id, body = await _new_family(http, tegal.headers)
    url = f"/api/v1/kpm/{family_id}"

    own = await http.get(url, headers=tegal.headers)
    assert own.status_code == 200
    read = await http.get(url, headers=pasuruan.headers)
    assert read.status_code == 404
    assert read.json()["code"] == "not_found"
    changed = await http.patch(
        url,
        json={"address": "RT 01 RW 01"},
        headers={**pasuruan.headers, "If-Match": own.headers["etag"]},
    )
    assert changed.status_code == 404
    archived = await http.post(
        f"{url}/archive",
        json={"reason": "pindah"},
        headers={**pasuruan.headers, "If-Match": own.headers["etag"]},
    )
    assert archived.status_code == 404
    listed = await http.get(
        "/api/v1/kpm", params={"no_kk": body["no_kk"]}, headers=pasuruan.headers
    )
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    found = await _graphql(
        http, pasuruan.headers, "query($id: UUID!) { family(id: $id) { id } }", id=family_id
    )
    assert found["data"] is None
    assert found["errors"][0]["extensions"]["code"] == "not_found"
    # Unchanged for its owner.
    assert (await http.get(url, headers=tegal.headers)).json()["address"] == body["address"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tampered(token: str, **claims: Any) -> str:
    """The token with claims changed and its signature kept."""
    header, payload, signature = token.split(".")
    changed = {**json.loads(base64.urlsafe_b64decode(payload + "==")), **claims}
    encoded = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


async def test_api2_broken_authentication(
    http: httpx.AsyncClient, clients: ClientFactory, app: FastAPI, session: AsyncSession
) -> None:
    """Only a valid secret gets a token, and only a token the service signed, unexpired, for a
    client still in service, opens the API.

    Deeper: tests/api/test_auth.py (every claim, key rotation, revocation, secret rotation,
    withdrawn scopes), tests/test_cli_clients.py (secrets stored as Argon2id hashes)."""
    client = await clients(region="33.28", scopes=["kpm:read"])
    url = "/api/v1/regions/33.28"
    grant = {"grant_type": "client_credentials", "client_id": client.client_id}
    wrong = await http.post("/oauth/token", data={**grant, "client_secret": client.secret + "x"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert "access_token" not in wrong.json()
    good = await http.post("/oauth/token", data={**grant, "client_secret": client.secret})
    assert good.status_code == 200
    token = good.json()["access_token"]
    assert (await http.get(url, headers=_bearer(token))).status_code == 200

    keys: TokenKeys = app.state.token_keys
    claims = jwt.get_unverified_claims(token)
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"k1"}').rstrip(b"=")
    forged = {
        "no token": None,
        "signed with another key": jwt.encode(
            claims,
            "an-attacker-key-an-attacker-key-an-attacker",
            algorithm="HS256",
            headers={"kid": keys.current_kid},
        ),
        "alg none": header.decode() + "." + token.split(".")[1] + ".",
        "a wider scope written in": _tampered(token, scope="kpm:read pii:read"),
        "expired": issue_token(
            keys,
            client_id=uuid.UUID(client.client_id),
            scopes=["kpm:read"],
            region_code="33.28",
            secret_generation=1,
            ttl_seconds=-60,
        ),
    }
    for label, bad in forged.items():
        refused = await http.get(url, headers=_bearer(bad) if bad else {})
        assert refused.status_code == 401, label
        assert refused.headers["www-authenticate"].startswith("Bearer"), label

    # A revoked client's token stops working on the next request.
    await auth_clients.revoke_client(session, auth_clients.operator(), client.client_id)
    await session.flush()
    assert (await http.get(url, headers=_bearer(token))).status_code == 401


async def test_api3_broken_object_property_level_authorization(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """Properties: NIK and No KK are masked for a caller without pii:read, through both doors;
    and properties a caller may not set (id, version, region, verification status) are
    refused by name, not silently taken (mass assignment).

    Deeper: tests/api/test_kpm_families.py (masking), test_kpm_read_audit.py (every unmasked
    read audited), test_allocations.py, test_kube_groups.py, test_disbursement_refusals.py
    (extra_forbidden on every input model)."""
    writer = await clients(region="33.28", scopes=WRITER)
    family_id, body = await _new_family(http, writer.headers)
    nik = body["members"][0]["nik"]

    masked = (await http.get(f"/api/v1/kpm/{family_id}", headers=writer.headers)).json()
    assert masked["members"][0]["nik"] == nik[:6] + "*" * 10
    assert masked["no_kk"] == body["no_kk"][:6] + "*" * 10
    graphql = await _graphql(
        http,
        writer.headers,
        "query($id: UUID!) { family(id: $id) { noKk members { nik } } }",
        id=family_id,
    )
    assert graphql["data"]["family"]["members"][0]["nik"] == nik[:6] + "*" * 10
    assert nik not in json.dumps(graphql)

    for field, value in (
        ("id", str(uuid.uuid4())),
        ("version", 7),
        ("region_code", PASURUAN),
        ("verification_status", "verified"),
    ):
        refused = await http.post(
            "/api/v1/kpm", json={**family_body(TEGAL_VILLAGE), field: value}, headers=writer.headers
        )
        assert refused.status_code == 422, field
        assert {(e["field"], e["code"]) for e in refused.json()["errors"]} == {
            (field, "extra_forbidden")
        }
    etag = (await http.get(f"/api/v1/kpm/{family_id}", headers=writer.headers)).headers["etag"]
    sneaky = await http.patch(
        f"/api/v1/kpm/{family_id}",
        json={"verification_status": "verified"},
        headers={**writer.headers, "If-Match": etag},
    )
    assert sneaky.status_code == 422
    after = (await http.get(f"/api/v1/kpm/{family_id}", headers=writer.headers)).json()
    assert after["verification_status"] == masked["verification_status"]


async def test_api4_unrestricted_resource_consumption(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """Every request's work is bounded before it starts: page sizes, filter lengths (the same
    on both doors), body sizes (413 before parsing) and the records a GraphQL request may ask
    for across aliases.

    Deeper: tests/api/test_body_limits.py, test_graphql_cost.py, test_graphql_limits.py,
    test_graphql_list_bounds.py, test_database_timeouts.py, tests/test_database_stall.py.
    Rate limits (issue 10, item 3) are being added in service/auth/ and tested there."""
    client = await clients(region="33.28", scopes=WRITER)
    too_many = await http.get("/api/v1/kpm", params={"limit": 100_000}, headers=client.headers)
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "limit"
    long_name = "Slamet " * 200
    rest = await http.get("/api/v1/kpm", params={"name": long_name}, headers=client.headers)
    assert rest.status_code == 422
    assert rest.json()["errors"][0]["field"] == "name"
    graphql = await _graphql(
        http,
        client.headers,
        "query($f: FamilyFilterInput) { families(filter: $f) { items { id } } }",
        f={"name": long_name},
    )
    assert graphql["data"] is None
    assert graphql["errors"][0]["extensions"]["code"] == "validation_failed"
    assert long_name not in json.dumps(graphql)

    huge = family_body(TEGAL_VILLAGE, address="x" * 2_000_000)
    answer = await http.post("/api/v1/kpm", json=huge, headers=client.headers)
    assert answer.status_code == 413
    assert answer.json()["code"] == "content_too_large"

    aliases = " ".join(f"f{n}: families(limit: 500) {{ items {{ id }} }}" for n in range(30))
    costly = await _graphql(http, client.headers, "{ " + aliases + " }")
    assert costly["data"] is None
    assert costly["errors"][0]["extensions"]["code"] == "query_too_costly"


async def test_api5_broken_function_level_authorization(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """Each function needs its scope, through both doors; managing clients is no function of
    the API at all (the operator's command line only).

    Deeper: tests/api/test_access_matrix.py (every operation against every scope),
    tests/api/test_graphql.py (every mutation declares its permission)."""
    reader = await clients(region="33.28", scopes=["kpm:read"])
    created = await http.post(
        "/api/v1/kpm", json=family_body(TEGAL_VILLAGE), headers=reader.headers
    )
    assert created.status_code == 403
    assert created.json()["code"] == "insufficient_scope"
    mutation = await _graphql(
        http,
        reader.headers,
        "mutation($i: ProgramCreateInput!) { createProgram(input: $i) { code } }",
        i={
            "code": "FLA_PROBE",
            "name": "Probe",
            "level": "DISTRICT",
            "benefitKind": "TRAINING",
            "regionCode": "33.28",
        },
    )
    assert mutation["errors"][0]["extensions"]["code"] == "insufficient_scope"
    programs = await http.get("/api/v1/programs", params={"limit": 500}, headers=reader.headers)
    assert "FLA_PROBE" not in programs.text
    money = await http.post("/api/v1/allocations", json=allocation_body(), headers=reader.headers)
    assert money.status_code == 403

    national = await clients()
    for path in ("/api/v1/clients", "/api/v1/admin", "/oauth/clients"):
        assert (await http.get(path, headers=national.headers)).status_code == 404, path


async def test_api6_unrestricted_access_to_sensitive_business_flows(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    """Paying business capital, the flow worth abusing: a retry pays once, a family is paid
    once a period whatever the key, and no allocation pays out more than it holds.

    Deeper: tests/api/test_idempotency.py (twenty parallel retries pay once),
    test_disbursements.py (the duplicate race), test_concurrency.py (the budget race),
    test_disbursement_batches.py."""
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=5_000_000)
    families = await insert_families(session, TEGAL_VILLAGE, 3)

    headers = money_headers(office)
    first = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], families[0]),
        headers=headers,
    )
    retry = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], families[0]),
        headers=headers,
    )
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["id"] == first.json()["id"]
    again = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], families[0]),
        headers=money_headers(office),
    )
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_disbursement"
    second = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], families[1]),
        headers=money_headers(office),
    )
    assert second.status_code == 201
    over = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], families[2]),
        headers=money_headers(office),
    )
    assert over.status_code == 409
    assert over.json()["code"] == "allocation_exhausted"
    listed = await http.get(
        "/api/v1/disbursements",
        params={"allocation_id": allocation["id"], "limit": 100},
        headers=office.headers,
    )
    assert sum(item["amount"] for item in listed.json()["items"]) == 5_000_000


async def test_api7_server_side_request_forgery(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """The one URL the service calls is a webhook's: internal, metadata and plain-HTTP targets
    are refused when subscribing (and again, on the resolved address, when sending).

    Deeper: tests/webhooks/test_webhook_targets.py (every private range, names resolving to
    loopback, the connection pinned to the checked address, TLS names)."""
    subscriber = await clients(region="33.28", scopes=["changes:read", "webhooks:manage"])
    for url, code in (
        ("https://169.254.169.254/latest/meta-data/", "private_target"),
        ("https://127.0.0.1:5432/", "private_target"),
        ("https://10.1.2.3/hook", "private_target"),
        ("https://[::1]/hook", "private_target"),
        ("http://sidesa.example.go.id/hook", "https_required"),
        ("file:///etc/passwd", "https_required"),
    ):
        refused = await http.post(
            "/api/v1/webhooks",
            json={"url": url, "event_types": ["kpm"]},
            headers=subscriber.headers,
        )
        assert refused.status_code == 422, url
        assert {(e["field"], e["code"]) for e in refused.json()["errors"]} == {("url", code)}, url
    listed = await http.get("/api/v1/webhooks", headers=subscriber.headers)
    assert listed.json()["items"] == []


async def test_api8_security_misconfiguration(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    """Answers are not sniffed or stored, browser pages run only their own scripts and cannot
    be framed, errors say nothing about the stack, and no browser origin is trusted.

    Deeper: tests/api/test_http_headers.py, tests/test_serve.py (no Server header, JSON logs
    without query strings), tests/api/test_problems.py, tests/test_dockerfile.py."""
    client = await clients(region="33.28", scopes=WRITER)
    family_id, _ = await _new_family(http, client.headers)
    personal = await http.get(
        f"/api/v1/kpm/{family_id}", headers={**client.headers, "Origin": "https://evil.example"}
    )
    assert personal.headers["x-content-type-options"] == "nosniff"
    assert personal.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in personal.headers

    docs = await http.get("/docs")
    assert docs.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]

    for answer in (
        await http.get("/api/v1/kpm/not-a-uuid", headers=client.headers),
        await http.get("/api/v1/nothing-here", headers=client.headers),
        await http.post(
            "/api/v1/kpm",
            content=b'{"no_kk": ',
            headers={**client.headers, "Content-Type": "application/json"},
        ),
    ):
        assert answer.status_code in (400, 404, 422)
        assert answer.headers["content-type"] == "application/problem+json"
        for tell in ("Traceback", 'File "', "sqlalchemy", "asyncpg", "site-packages"):
            assert tell not in answer.text
    trace = await http.request("TRACE", "/api/v1/kpm", headers=client.headers)
    assert trace.status_code == 405


# Routes deliberately outside the OpenAPI document, each documented elsewhere.
UNDOCUMENTED = {
    "/graphql",  # its own contract: openapi/schema.graphql
    "/metrics",  # Prometheus, for operators; guarded by DINSOS_METRICS_TOKEN
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/favicon.ico",
    "/openapi.json",
    "/static/redoc/redoc.standalone.js",  # the docs pages' own script
}


def _served(routes: list[Any], prefix: str = "", shown: bool = True) -> Iterator[tuple[str, bool]]:
    """Every path the app serves and whether the OpenAPI document shows it. This FastAPI keeps
    an included router as one entry that holds its include context (prefix, schema flag)."""
    for route in routes:
        included = getattr(route, "include_context", None)
        if included is not None:
            yield from _served(
                included.included_router.routes,
                prefix + included.prefix,
                shown and included.include_in_schema,
            )
        elif not isinstance(route, Mount):  # static files
            # A path converter ({id:uuid}) is not part of the published template.
            path = re.sub(r":\w+}", "}", prefix + getattr(route, "path", ""))
            yield path, shown and isinstance(route, APIRoute) and route.include_in_schema


async def test_api9_improper_inventory_management(app: FastAPI, http: httpx.AsyncClient) -> None:
    """Every route the service serves is in its published inventory: the OpenAPI document (or,
    for the few that are not, the short list above); the API has one version, /api/v1, and no
    other version or debugging door answers.

    Deeper: tests/test_contracts.py (the committed openapi.json and schema.graphql equal what
    the code serves), tests/api/test_docs.py, tests/api/test_contract_conformance.py."""
    published = (await http.get("/openapi.json")).json()["paths"]
    served = dict(_served(app.router.routes))
    assert {path for path, documented in served.items() if documented} == set(published)
    assert {path for path, documented in served.items() if not documented} <= UNDOCUMENTED
    # /dci/: the DCI Social Registry door (its own versioned standard, SR 1.0.0).
    assert all(
        path.startswith(("/api/v1/", "/oauth/", "/dci/", "/healthz", "/readyz"))
        for path in published
    )
    for path in (
        "/api/v0/regions",
        "/api/v2/regions",
        "/api/regions",
        "/debug",
        "/admin",
        "/api/v1/debug",
        "/.env",
        "/graphql/playground",
    ):
        answer = await http.get(path)
        assert answer.status_code in (401, 404), path


async def _redirecting_receiver(body_size: int) -> tuple[asyncio.Server, list[bytes], str]:
    """A raw HTTP receiver that answers 307 to an internal address with a huge body."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read(65536))
        writer.write(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/latest/\r\n"
            + f"Content-Length: {body_size}\r\n\r\n".encode()
        )
        try:
            for _ in range(body_size // 65536):
                writer.write(b"x" * 65536)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, seen, f"http://127.0.0.1:{port}/hook"


async def test_api10_unsafe_consumption_of_apis(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    """What the service takes from other systems is checked as if a stranger sent it. A
    village system's import file: every row is validated like the API's own input, and a row
    for another region is refused, not written. A webhook receiver's answer: a redirect is not
    followed, and only the first 4 KiB of a body are read.

    Deeper: tests/api/test_kpm_import.py, test_kpm_import_journal.py, tests/test_cli_import.py,
    tests/webhooks/test_webhook_delivery.py, test_webhook_targets.py."""
    # On a database of its own, committed: the import runs after the upload's request.
    async with own_app.state.sessions() as session:
        village = await ClientFactory(session, own_app.state.token_keys, commit=True)(
            region=TEGAL_VILLAGE, scopes=[*WRITER, "pii:read"]
        )
    http = own_http
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(FIELDS)
    for village_code, nik in ((TEGAL_VILLAGE, "33280214038500"), ("35.75.01.1001", None)):
        body = family_body(village_code)
        member = body["members"][0]
        row = {
            **member,
            "nik": nik or member["nik"],
            "no_kk": body["no_kk"],
            "village_code": village_code,
            "address": "RT 1",
            "desil": "2",
            "programs": "PKH",
        }
        writer.writerow([row[name] for name in FIELDS])
    started = await http.post(
        "/api/v1/kpm/imports?format=csv", content=rows.getvalue().encode(), headers=village.headers
    )
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = (await http.get(started.headers["location"], headers=village.headers)).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    refusals = await http.get(started.headers["location"] + "/refusals", headers=village.headers)
    assert job["status"] == "done", job
    assert {(refusal["field"], refusal["code"]) for refusal in refusals.json()["items"]} == {
        ("nik", "invalid_nik"),
        ("village_code", "outside_region"),
    }
    listed = await http.get("/api/v1/kpm", params={"limit": 500}, headers=village.headers)
    assert "33280214038500" not in listed.text

    server, seen, url = await _redirecting_receiver(body_size=8 * 1024 * 1024)
    client = TargetClient(TargetPolicy(allow_http=True, allow_private=True))
    try:
        answer = await client.post(url, {"webhook-id": "msg_1"}, b"{}")
    finally:
        await client.close()
        server.close()
    assert answer.status_code == 307
    assert not answer.ok
    assert len(answer.body) <= ANSWER_CAP
    assert len(seen) == 1  # one request, to the receiver; none to where it pointed
