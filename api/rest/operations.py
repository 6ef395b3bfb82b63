"""Liveness, readiness and metrics for the platform running the service."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.health import Health, Readiness
from service.errors import Unauthorized
from service.health import database_readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="health", response_model=Health)
async def health() -> Health:
    """The process is up. Says nothing about the database (see `/readyz`)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readiness",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
async def readiness(request: Request) -> JSONResponse:
    """Ready for traffic: the database answers and its schema is at the migrations' head."""
    ready = await database_readiness(request.app.state.engine)
    body = Readiness(
        status="ok" if ready.ok else "unavailable",
        database=ready.database,
        migrations=ready.migrations,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready.ok else 503)


@router.get("/metrics", operation_id="metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics; with ``DINSOS_METRICS_TOKEN`` set, only for the bearer of it."""
    token = request.app.state.settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}".encode()
        given = request.headers.get("authorization", "").encode()
        # Constant time: the comparison must not tell how much of a guess was right.
        if not hmac.compare_digest(given, expected):
            raise Unauthorized(
                "Send the metrics token as a bearer token.", code="metrics_token_required"
            )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
