"""Swagger UI, ReDoc and GraphiQL from local files. FastAPI's defaults load them from a CDN, and a
district office without internet would see a blank page."""

from __future__ import annotations

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
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
            swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url="/static/redoc/redoc.standalone.js",
            redoc_favicon_url="/favicon.ico",
            with_google_fonts=False,
        )
