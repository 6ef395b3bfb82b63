"""Swagger UI, ReDoc and GraphiQL from local files. FastAPI's defaults load them from a CDN, and a
district office without internet would see a blank page."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from api.graphql.router import GRAPHIQL_PAGE

SWAGGER_AND_REDOC_ASSETS = Path(fastapi_offline.__file__).parent / "static"
OWN_ASSETS = Path(__file__).parent / "static"
# The ReDoc bundle draws Redocly's logo in its sidebar from their CDN: served with a local one.
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_LOCAL_LOGO = "/static/redoc-logo-mini.svg"


@cache
def redoc_bundle() -> bytes:
    """fastapi-offline's ReDoc bundle, with its one request to the internet made local."""
    text = (SWAGGER_AND_REDOC_ASSETS / "redoc.standalone.js").read_text(encoding="utf-8")
    return text.replace(REDOC_CDN_LOGO, REDOC_LOCAL_LOGO).encode()


# What the three pages need, and nothing from elsewhere: their scripts, styles, images and fonts
# come from this service. Inline scripts run only with their hash (below); styles may be inline,
# because Swagger UI and ReDoc set style attributes at run time. ReDoc's search runs in a worker
# it builds from a blob.
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def page_policy(html: str) -> str:
    """The Content-Security-Policy of a page: its own inline scripts allowed by their SHA-256."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return _PAGE_POLICY.format(hashes=hashes)


@cache
def swagger_page(title: str) -> bytes:
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{title} - Swagger UI",
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_js_url="/static/docs/swagger-ui-bundle.js",
        swagger_css_url="/static/docs/swagger-ui.css",
        swagger_favicon_url="/favicon.ico",
        swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
    )
    return bytes(page.body)


@cache
def swagger_redirect_page() -> bytes:
    return bytes(get_swagger_ui_oauth2_redirect_html().body)


@cache
def redoc_page(title: str) -> bytes:
    page = get_redoc_html(
        openapi_url="/openapi.json",
        title=f"{title} - ReDoc",
        redoc_js_url="/static/redoc/redoc.standalone.js",
        redoc_favicon_url="/favicon.ico",
        with_google_fonts=False,
    )
    return bytes(page.body)


def page_policies(app: FastAPI) -> dict[str, str]:
    """The Content-Security-Policy of each page a browser opens, by path."""
    pages = {
        "/docs": swagger_page(app.title),
        "/docs/oauth2-redirect": swagger_redirect_page(),
        "/redoc": redoc_page(app.title),
        "/graphql": GRAPHIQL_PAGE.encode(),
    }
    return {path: page_policy(html.decode()) for path, html in pages.items()}


def install_docs(app: FastAPI) -> None:
    # Before the mounts below, which would otherwise answer these paths.
    @app.get("/static/redoc/redoc.standalone.js", include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(
            redoc_bundle(),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(OWN_ASSETS / "favicon.ico", media_type="image/x-icon")

    app.mount("/static/docs", StaticFiles(directory=SWAGGER_AND_REDOC_ASSETS), name="docs-assets")
    app.mount("/static", StaticFiles(directory=OWN_ASSETS), name="assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger_page(app.title))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return HTMLResponse(swagger_redirect_page())

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(redoc_page(app.title))
