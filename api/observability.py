"""Request ids, JSON logs and Prometheus metrics.

The access log records method, route template, status and duration: never the query string or
body, which may carry a NIK."""

from __future__ import annotations

import logging
import re
from typing import Any
from uuid import uuid4

from asgi_correlation_id import CorrelationIdFilter, correlation_id
from asgi_correlation_id.extensions.sentry import get_sentry_extension
from asgi_correlation_id.middleware import FAILED_VALIDATION_MESSAGE
from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette._utils import get_route_path
from starlette.types import Scope

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


def take_request_id(scope: Scope) -> str:
    """The request's id, as asgi_correlation_id's middleware takes it: the ``X-Request-ID`` it
    came with when valid, else a new one (and the request's header replaced, so the handlers see
    the id the answer carries); set in the ``correlation_id`` that logs and problems read."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    sent: str | None = None
    for name, value in headers:
        if name == b"x-request-id":
            sent = value.decode("latin-1")
            break
    if not sent:
        request_id = _new_request_id()
    elif not _REQUEST_ID.match(sent):
        request_id = _new_request_id()
        logging.getLogger("asgi_correlation_id").warning(FAILED_VALIDATION_MESSAGE, request_id)
    else:
        request_id = sent
    if request_id != sent:
        # As Starlette's MutableHeaders sets it: the first such header replaced, others dropped.
        kept = [(name, value) for name, value in headers if name != b"x-request-id"]
        kept.append((b"x-request-id", request_id.encode("latin-1")))
        scope["headers"] = kept
    correlation_id.set(request_id)
    _sentry(request_id)
    return request_id


def _new_request_id() -> str:
    return uuid4().hex


_sentry = get_sentry_extension()


class RequestMetrics:
    """Counts and times requests by route template, and writes the access log line. The
    labelled children are kept per (method, template, status): ``labels()`` locks and builds a
    tuple on every call."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, scope: Scope, status: int, elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None)
        if template == "":
            # A router's own root route (GraphQL's, included at /graphql) serves the one path
            # it was included at: that path is its template.
            template = get_route_path(scope)
        template = template or "unmatched"
        method = scope["method"]
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:
            children = (
                REQUESTS.labels(method, template, str(status)),
                LATENCY.labels(method, template),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):  # not even the record's fields otherwise
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "route": template,
                    "status": status,
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
