"""The `Allow` header of a 405: every method the path supports (RFC 9110 section 15.5.6).

The router stops at the first route whose path matches and lists only that route's methods;
each method of a path is its own route here, so the list is gathered from all of them."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts


def _route_methods(app: FastAPI) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    index: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "route_methods", None
    )
    if index is None:
        index = [
            (route.path_regex, frozenset(route.methods))
            for route in iter_route_contexts(app.routes)
            if route.methods and getattr(route, "path_regex", None) is not None
        ]
        app.state.route_methods = index
    return index


def allowed_methods(app: FastAPI, path: str) -> str:
    methods: set[str] = set()
    for pattern, route_methods in _route_methods(app):
        if pattern.match(path):
            methods |= route_methods
    return ", ".join(sorted(methods))
