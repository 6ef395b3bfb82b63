"""The interactive docs work with no internet: every script, style and font they load is served
by the service itself, and the OAuth2 flow behind "Authorize" is the client-credentials one."""

from __future__ import annotations

import re

import httpx
import pytest

_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


async def _page_assets(http: httpx.AsyncClient, path: str) -> list[str]:
    page = await http.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = _ASSET.findall(page.text)
    assert assets, f"{path} loads no assets?"
    # Nothing from another host: no CDN, no Google Fonts.
    assert "//" not in " ".join(assets), assets
    assert "cdn." not in page.text
    assert "fonts.googleapis" not in page.text
    return assets


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/graphql"])
async def test_docs_pages_load_only_local_assets(http: httpx.AsyncClient, path: str) -> None:
    for asset in await _page_assets(http, path):
        response = await http.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset


async def test_redoc_script_fetches_nothing_from_the_internet(http: httpx.AsyncClient) -> None:
    page = await http.get("/redoc")
    (script,) = [asset for asset in _ASSET.findall(page.text) if asset.endswith(".js")]
    bundle = (await http.get(script)).text
    assert "cdn.redoc.ly" not in bundle
    logo = await http.get("/static/redoc-logo-mini.svg")
    assert logo.status_code == 200
    assert logo.headers["content-type"].startswith("image/svg+xml")
    assert "/static/redoc-logo-mini.svg" in bundle


async def test_the_browser_finds_a_favicon(http: httpx.AsyncClient) -> None:
    response = await http.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert response.content.startswith(b"\x00\x00\x01\x00")  # the ICO signature


async def test_swagger_oauth_redirect_page_is_served(http: httpx.AsyncClient) -> None:
    response = await http.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "oauth2" in response.text.lower()


async def test_openapi_offers_the_client_credentials_flow(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["OAuth2ClientCredentials"]
    flow = scheme["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert {"kpm:read", "pii:read", "disbursements:write"} <= set(flow["scopes"])


async def test_every_operation_documents_its_errors_as_problems(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    operation_ids = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            operation_ids.append(operation["operationId"])
            assert operation.get("description") or operation.get("summary"), (path, method)
            errors = {code for code in operation["responses"] if code[0] in "45"}
            if operation.get("security"):
                assert "401" in errors, (path, method)
            if path.startswith("/api/"):
                assert {"500", "503"} <= errors, (path, method)
            if path == "/oauth/token":
                # RFC 6749 section 5.2: a malformed token request is a 400 `invalid_request`.
                assert "400" in errors
                assert "422" not in errors
            elif path.startswith("/dci/"):
                # The DCI door answers in the DCI spec's shapes: a refused message is an
                # envelope (200), an HTTP error is {"errors": [...]}; only the body-size guard,
                # before any route, answers a problem.
                for code in errors - {"413"}:
                    content = operation["responses"][code]["content"]["application/json"]
                    assert "errors" in content["schema"]["properties"], (path, method, code)
                continue
            elif operation.get("parameters") or operation.get("requestBody"):
                assert "422" in errors, (path, method)
            for code in errors if path != "/readyz" else ():  # readiness answers its own body
                content = operation["responses"][code].get("content", {})
                assert "application/problem+json" in content, (path, method, code)
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
