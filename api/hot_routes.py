"""The hot reads, sent to their routes without walking the router.

A request is matched against the routes in order (about 150, some inside included routers),
and FastAPI then resolves the endpoint's dependencies (the caller, the path parameter): 14% of a
region read. The look-ups a village system makes all day (a region by code, a family by id) are
matched here by their own path pattern and served by a function of the router module that takes
the caller and the parameter itself and calls the endpoint: the same endpoint, the same answers,
the same errors (rendered by the same exception handlers).

The routes come from the router itself: the first request that the router matches to a hot
route teaches this table that route's pattern, and later requests on that pattern skip the walk.
That gives the router's answer for every path only while no route tried before a hot one takes
a path the hot pattern matches: ``tests/api/test_hot_routes.py`` checks it against every path
of the API. Dependency overrides send every request through the router, where FastAPI applies
them. The OpenAPI document, built from the routes, does not change.

GraphQL's JSON POSTs (``POST /graphql``) are learned the same way, from the route the router
served one with: every GraphQL read and write is such a request, and the router's walk and
FastAPI's solving of the context getter's dependencies were a fifth of a ``family(id)`` read.
What serves them (``api.graphql.router.DinsosGraphQLRouter.serve_json_post``) builds the context
directly and runs Strawberry's own ``run``, or answers from the plan of a query it has run before
(``api/graphql/prepared_reads.py``); other GraphQL requests (GET, GraphiQL, uploads,
WebSockets) keep going through the router."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette._utils import get_route_path
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

# A router module's function for one hot route: the caller and the path parameters taken from
# the request, then the route's own endpoint.
Serve = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class _Learned:
    route: Any  # the router's own route: its ``path`` is the metrics' template
    prefix: str
    pattern: re.Pattern[str]
    convertors: Mapping[str, Any]
    app: ASGIApp


def _json_body(scope: Scope) -> bool:
    """A request whose body is announced as JSON (its content type names it; what serves it
    checks the content type as Strawberry does, and Strawberry's own parsing decides the rest,
    as on the router's path)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return b"application/json" in value.lower()
    return False


class HotRoutes:
    """``serving`` maps the operation id of each hot GET route to its ``Serve``; ``json_posts``
    maps the path of a route taking JSON POSTs (``/graphql``) to its ``Serve``."""

    def __init__(
        self, serving: Mapping[str, Serve], json_posts: Mapping[str, Serve] | None = None
    ) -> None:
        self.serving = dict(serving)
        self.json_posts = dict(json_posts or {})
        self.learned: list[_Learned] = []
        self.learned_posts: dict[str, tuple[Any, ASGIApp]] = {}

    def match(self, scope: Scope) -> ASGIApp | None:
        """The app to serve this request with, its scope filled in as the router fills it;
        None when it is no request for a learned hot route."""
        if scope["app"].dependency_overrides:
            # Overrides (tests, an operator's hook) are FastAPI's to apply: the router's path.
            return None
        method = scope["method"]
        if method == "POST" and self.learned_posts:
            learned = self.learned_posts.get(get_route_path(scope))
            if learned is None or not _json_body(scope):
                return None
            route, app = learned
            scope["path_params"] = {}
            scope["route"] = route
            scope["endpoint"] = route.endpoint
            scope.setdefault("router", scope["app"].router)
            return app
        if not self.learned or method != "GET":
            return None
        path = get_route_path(scope)
        for hot in self.learned:
            if not path.startswith(hot.prefix):
                continue
            found = hot.pattern.match(path)
            if found is None:
                continue
            scope["path_params"] = {
                name: hot.convertors[name].convert(value)
                for name, value in found.groupdict().items()
            }
            scope["route"] = hot.route
            scope["endpoint"] = hot.route.endpoint
            scope.setdefault("router", scope["app"].router)
            return hot.app
        return None

    def learn(self, scope: Scope) -> None:
        """After a request the router served: remember its route if it is a hot one."""
        route = scope.get("route")
        if scope["method"] == "POST":
            # Strawberry's route has the path "" inside its router: the request's own path,
            # which the router matched to it.
            path = get_route_path(scope)
            post = self.json_posts.get(path)
            if (
                post is not None
                and route is not None
                and path not in self.learned_posts
                and _json_body(scope)
            ):
                app = ExceptionMiddleware(_serving(post), handlers=_handlers(scope))
                self.learned_posts[path] = (route, app)
            return
        serve = self.serving.get(getattr(route, "operation_id", None) or "")
        if serve is None or scope["method"] != "GET":
            return
        if any(hot.route is route for hot in self.learned):
            return
        assert route is not None
        if route.dependencies or not route.path_regex.match(get_route_path(scope)):
            # Only a route whose own pattern is the whole path it was served on (a prefix given
            # by ``include_router`` is not in it: learned, its pattern would match other paths)
            # and that has no dependencies of its own, which the serving function would skip.
            return
        handlers = _handlers(scope)
        self.learned.append(
            _Learned(
                route=route,
                prefix=route.path_format.partition("{")[0],
                pattern=route.path_regex,
                convertors=route.param_convertors,
                app=ExceptionMiddleware(_serving(serve), handlers=handlers),
            )
        )


def _handlers(scope: Scope) -> dict[Any, Any]:
    return {
        key: handler
        for key, handler in scope["app"].exception_handlers.items()
        # As FastAPI builds its stack: these go to the outermost ServerErrorMiddleware.
        if key not in (500, Exception)
    }


def _serving(serve: Serve) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await serve(Request(scope, receive, send))
        await response(scope, receive, send)

    return app
