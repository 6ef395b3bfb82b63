"""Request ids, JSON logs and Prometheus metrics.

The access log records method, route template, status and duration: never the query string or
body, which may carry a NIK."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware
from fastapi import FastAPI
from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("dinsos.access")

REQUESTS = Counter(
    "dinsos_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "dinsos_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

CHANGE_FEED_HELD_BACK = Gauge(
    "dinsos_change_feed_held_back_seconds",
    "Age of the oldest running writing transaction, which holds the change feed back; "
    "set when the feed is read",
)
change_feed_log = logging.getLogger("dinsos.changes")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(CorrelationIdFilter(uuid_length=None, default_value="-"))
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "correlation_id": "request_id"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log would print raw paths (with query strings); ours replaces it.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): counts and times requests by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}

        async def send_with_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            method = scope["method"]
            REQUESTS.labels(method, template, str(status_holder["status"])).inc()
            LATENCY.labels(method, template).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):  # not even the record's fields otherwise
                access_log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": template,
                        "status": status_holder["status"],
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


def observe_change_feed(held_back_seconds: float, warn_after_seconds: float) -> None:
    """A long transaction stalls the feed for every reader: make it visible."""
    CHANGE_FEED_HELD_BACK.set(held_back_seconds)
    if held_back_seconds > warn_after_seconds:
        change_feed_log.warning(
            "change feed held back by a long-running transaction",
            extra={"held_back_seconds": round(held_back_seconds, 1)},
        )


def install_observability(app: FastAPI) -> None:
    app.add_middleware(MetricsMiddleware)
    # Added last, so it runs first: every log line of the request carries its id.
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        validator=lambda value: bool(_REQUEST_ID.match(value)),
    )
