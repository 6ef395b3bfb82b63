"""Liveness, readiness and metrics for the platform running the service."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.health import Health, Readiness
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
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
