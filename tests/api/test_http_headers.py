"""Security headers: nosniff everywhere, no-store on what carries personal data or credentials, a
Content-Security-Policy and frame protection on the browser pages, and a guarded /metrics."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from api.app import create_app
from service.settings import Settings
from tests.factories import ClientFactory

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_SCRIPT_SOURCE = re.compile(r"""<script[^>]*\bsrc\s*=\s*["']([^"']+)["']""")


async def test_api_answers_are_not_stored_or_sniffed(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients(scopes=["kpm:read"])
    answers = {
        "a record": await http.get("/api/v1/regions/33.28", headers=client.headers),
        "a list": await http.get("/api/v1/programs", headers=client.headers),
        "a refusal": await http.get("/api/v1/kpm"),
        "an unknown route": await http.get("/api/v1/nothing-here", headers=client.headers),
        "graphql": await http.post(
            "/graphql", json={"query": "{ region(code: \"33.28\") { name } }"},
            headers=client.headers,
        ),
    }  # fmt: skip
    assert answers["a record"].status_code == 200
    assert answers["graphql"].json()["data"]["region"]["name"] == "Kabupaten Tegal"
    for label, answer in answers.items():
        assert answer.headers["x-content-type-options"] == "nosniff", label
        assert answer.headers["cache-control"] == "no-store", label


async def test_an_unexpected_failure_has_them_too(app: FastAPI, http: httpx.AsyncClient) -> None:
    # Starlette renders a 500 outside every middleware: the handler sets them itself.
    async def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/api/v1/test-explode", explode)
    answer = await http.get("/api/v1/test-explode")
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


async def test_the_token_answer_has_one_cache_control(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    answer = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
        },
    )
    assert answer.status_code == 200
    assert answer.headers.get_list("cache-control") == ["no-store"]
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_public_answers_are_not_sniffed_but_may_be_cached(http: httpx.AsyncClient) -> None:
    health = await http.get("/healthz")
    script = await http.get("/static/redoc/redoc.standalone.js")
    for answer in (health, script):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers.get("cache-control") != "no-store"
    assert "content-security-policy" not in health.headers


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect", "/redoc", "/graphql"])
async def test_browser_pages_run_only_their_own_scripts(http: httpx.AsyncClient, path: str) -> None:
    page = await http.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    policy = _policy(page.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    scripts = policy["script-src"]
    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts
    assert not [source for source in scripts if source.startswith(("http", "*", "data:"))]
    # Every inline script of the page is allowed by its hash, or the browser would refuse it
    # and show a blank page.
    for script in _INLINE_SCRIPT.findall(page.text):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in scripts, path
    # Scripts with a source come from this service.
    for source in _SCRIPT_SOURCE.findall(page.text):
        assert source.startswith("/"), source
        assert not source.startswith("//"), source


async def test_metrics_are_open_without_a_token_setting(http: httpx.AsyncClient) -> None:
    answer = await http.get("/metrics")
    assert answer.status_code == 200
    assert "dinsos_http_requests_total" in answer.text


async def test_metrics_need_the_configured_token(settings: Settings) -> None:
    guarded = create_app(
        settings.model_copy(update={"metrics_token": SecretStr("metrics-secret-1")})
    )
    transport = httpx.ASGITransport(app=guarded, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer metrics-secret-2"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer metrics-secret-1"})
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["code"] == "metrics_token_required"
        assert "dinsos_http_requests_total" not in refused.text
    assert right.status_code == 200
    assert "dinsos_http_requests_total" in right.text
