"""Mounts the schema on FastAPI: context per request, errors shaped like REST's problems, and
GraphiQL served from local files (no CDN)."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, cast

import orjson
from asgi_correlation_id import correlation_id
from cross_web import AsyncHTTPRequestAdapter
from cross_web import HTTPException as StrawberryHTTPException
from fastapi import Depends, Request, Response, status
from fastapi.background import BackgroundTasks
from fastapi.responses import HTMLResponse, PlainTextResponse
from graphql import GraphQLError
from pydantic import ValidationError
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema import Schema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from api.deps import connection_caller
from api.graphql.context import GraphQLContext
from api.graphql.error_messages import make_safe
from api.graphql.limits import extensions_runner
from api.graphql.prepared_reads import PreparedReads
from api.graphql.subscriptions import TransportWSHandler, authenticate
from service.access import Caller
from service.database import is_unstorable_value
from service.database_faults import is_database_unavailable
from service.errors import DomainError, TooManyRequests, Unauthorized

log = logging.getLogger(__name__)

GRAPHIQL_PAGE = (Path(__file__).parent.parent / "static" / "graphiql" / "index.html").read_text()


def _cause(error: GraphQLError) -> Exception | None:
    """What went wrong underneath: a bad variable value arrives as a GraphQL error wrapping the
    scalar's GraphQL error, which wraps the scalar's own exception (if any)."""
    original = error.original_error
    while isinstance(original, GraphQLError):
        original = original.original_error
    return original


def _error_extensions(error: GraphQLError) -> dict[str, Any]:
    original = _cause(error)
    if isinstance(original, DomainError):
        extensions: dict[str, Any] = {
            "code": original.code,
            "status": original.status,
            "errors": [vars(item) for item in original.errors],
        }
        if isinstance(original, TooManyRequests):
            extensions["retry_after"] = original.retry_after
        return extensions
    if isinstance(original, ValidationError):
        return {
            "code": "validation_failed",
            "status": 422,
            "errors": [
                {
                    "field": ".".join(str(p) for p in item["loc"]),
                    "code": item["type"],
                    "message": item["msg"],
                }
                for item in original.errors()
            ],
        }
    if original is not None and is_unstorable_value(original):  # the client's input
        return {"code": "invalid_value", "status": 422}
    if original is not None and is_database_unavailable(original):  # worth a retry, as on REST
        return {"code": "database_unavailable", "status": 503, "retry_after": 5}
    if original is None:
        # A GraphQL-level error (syntax, unknown field, a limit exceeded, a bad variable) or a
        # refusal raised as one (permissions): its code, if it carries one.
        extensions = error.extensions or {}
        return {
            "code": extensions.get("code", "graphql_error"),
            "status": extensions.get("status", 400),
        }
    return {"code": "internal_error", "status": 500}


def _safe_message(error: GraphQLError, extensions: dict[str, Any]) -> str:
    """Never an input value in the message (PRODUCT: no personal data in errors)."""
    if extensions["code"] == "internal_error":
        return "Internal error."
    if extensions["code"] == "database_unavailable":
        return "The database is not reachable; try again shortly."
    cause = _cause(error)
    if isinstance(cause, ValidationError):
        return "The input has invalid fields; see extensions.errors."
    if cause is not None and is_unstorable_value(cause):
        return "A value is out of range or has characters that cannot be stored."
    if cause is None:
        make_safe(error, None)  # already done with the document in process_errors, if it ran
    return error.message


def _format_error(error: GraphQLError) -> dict[str, Any]:
    extensions = _error_extensions(error)
    message = _safe_message(error, extensions)
    formatted: dict[str, Any] = {
        "message": message,
        "extensions": {**extensions, "request_id": correlation_id.get()},
    }
    if error.path:
        formatted["path"] = error.path
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    return formatted


@lru_cache(maxsize=64)
def _media_type(content_type: str) -> str:
    """Strawberry's reading of a Content-Type header (``parse_content_type``, through the
    standard library's e-mail parser: 3% of a prepared read), once per header value."""
    return parse_content_type(content_type)[0]


class DinsosSchema(Schema):
    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        # The request guards act only when a stage starts: run without Strawberry's context
        # managers per hook (api/graphql/limits.py, ``GuardsOnEntry``).
        return extensions_runner(execution_context, extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Refusals are answers, not incidents: only unexpected failures reach the error log. A
        # value PostgreSQL cannot store (a NUL character, a date past its range) is the client's.
        document = execution_context.graphql_document if execution_context else None
        for error in errors:
            original = _cause(error)
            if original is None:
                make_safe(error, document)
            elif isinstance(original, DomainError | ValidationError) or is_unstorable_value(
                original
            ):
                continue
            elif is_database_unavailable(original):
                log.warning("database unavailable: %s", type(original).__name__)
            else:
                log.error("graphql resolver failed", exc_info=original)
        # Over a WebSocket, Strawberry writes each error as graphql-core formats it: give it the
        # same message and extensions (``code``...) as an answer over HTTP.
        context = execution_context.context if execution_context else None
        if isinstance(getattr(context, "request", None), WebSocket):
            for error in errors:
                formatted = _format_error(error)
                error.message = formatted["message"]
                error.extensions = formatted["extensions"]


async def optional_caller(connection: HTTPConnection) -> Caller | None:
    """No token: introspection still works (the schema is public), data fields refuse.
    A bad token is refused outright, as on REST. Checked in a short transaction of its own, so
    the request's session takes a connection only when a resolver needs it (the money
    mutations run transactions of their own, and must not hold two connections at once).
    A WebSocket is authenticated by its first message instead (``on_ws_connect``)."""
    authorization = connection.headers.get("authorization")
    if not authorization or isinstance(connection, WebSocket):
        return None
    return await connection_caller(connection, authorization)


async def graphql_context(
    request: HTTPConnection,
    caller: Annotated[Caller | None, Depends(optional_caller)],
) -> GraphQLContext:
    # A multipart request (an upload) is one a web page may send across sites without asking
    # the browser first; the bearer token it must carry makes the browser ask (CORS preflight),
    # and an anonymous upload is refused before a byte of it is parsed.
    if caller is None and request.headers.get("content-type", "").startswith("multipart/"):
        raise Unauthorized("Uploads need a bearer token from POST /oauth/token.")
    # The request's session, with no transaction around the whole request: each root field
    # commits or rolls back its own (api/graphql/units_of_work.py). Opened when a resolver
    # first uses it, closed by ``run`` before the response goes out.
    return GraphQLContext(
        open_session=request.app.state.sessions,
        read_sessions=request.app.state.read_sessions,
        optional_caller=caller,
    )


class DinsosGraphQLRouter(GraphQLRouter[GraphQLContext, None]):
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, schema: Schema, **options: Any) -> None:
        super().__init__(schema, **options)
        self.prepared_reads = PreparedReads()

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """A WebSocket's ``connection_init``: its payload's token, checked as a request's."""
        websocket = context.request
        assert isinstance(websocket, WebSocket)
        try:
            caller, watcher = await authenticate(websocket, context.connection_params)
        except DomainError as refusal:
            raise ConnectionRejectionError({"code": refusal.code}) from refusal
        context.optional_caller, context.connection_watcher = caller, watcher
        return cast(UnsetType, UNSET)

    async def run(
        self,
        request: Request | WebSocket,
        context: GraphQLContext | UnsetType = UNSET,
        root_value: None | UnsetType = UNSET,
    ) -> Any:
        try:
            return await super().run(request, context, root_value)  # type: ignore[arg-type]
        finally:
            if isinstance(context, GraphQLContext):
                await context.close()

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        # Strawberry's, with orjson: a page of 500 families is 600 KB of JSON, which the
        # standard library's encoder spent a twentieth of the request's CPU writing. The same
        # JSON value (non-ASCII written as UTF-8, as the REST door does); an integer past 64
        # bits, which orjson refuses, falls back to the standard encoder. (A WebSocket's
        # messages keep Strawberry's encoder: they must go as text frames.)
        try:
            body = orjson.dumps(response_data)
        except orjson.JSONEncodeError:
            body = json.dumps(response_data, separators=(",", ":")).encode()
        response = Response(
            body,
            media_type="application/json",
            status_code=sub_response.status_code or status.HTTP_200_OK,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    async def serve_json_post(self, request: Request) -> Response:
        """A JSON POST as the router's POST route serves it (``handle_http_post`` with the
        context getter's dependencies), without the router's walk and FastAPI's dependency
        solving (``api.hot_routes``): the caller (a bad token refused by the exception handlers,
        as there), the context with the request, background tasks and sub-response FastAPI
        would give it, then the answer from a plan of the query when there is one
        (api/graphql/prepared_reads.py), else Strawberry's own ``run``."""
        context = await graphql_context(request, await optional_caller(request))
        background = BackgroundTasks()
        # FastAPI's sub-response: no status and no headers until a resolver sets them.
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        context.request = request
        context.background_tasks = background
        context.response = sub_response
        self.temporal_response = sub_response
        try:
            prepared = await self._prepared_answer(request, context)
        except BaseException:
            await context.close()
            raise
        if prepared is not None:
            await context.close()
            response: Response = self.create_response(prepared, sub_response)
        else:  # ``run`` closes the context
            try:
                response = await self.run(request=request, context=context, root_value=None)
            except StrawberryHTTPException as e:
                response = PlainTextResponse(e.reason, status_code=e.status_code)
        if response.background is None:
            response.background = background
        return response

    async def _prepared_answer(
        self, request: Request, context: GraphQLContext
    ) -> GraphQLHTTPResponse | None:
        """The answer of a query the prepared reads have a plan of (api/graphql/
        prepared_reads.py), or None for Strawberry's ``run`` to answer; a query text not seen
        yet may be learned there (``context.learn_plan``)."""
        # Strawberry's own test of the content type (``parse_http_body``): what it refuses, it
        # refuses in its own words.
        if "application/json" not in _media_type(request.headers.get("content-type") or ""):
            return None
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(payload, dict):  # a batch, or no GraphQL request at all
            return None
        query, name = payload.get("query"), payload.get("operationName")
        variables, extensions = payload.get("variables"), payload.get("extensions")
        if (
            not isinstance(query, str)
            or not (name is None or isinstance(name, str))
            or not (variables is None or isinstance(variables, dict))
            or not (extensions is None or isinstance(extensions, dict))
        ):
            return None
        plan = self.prepared_reads.plan_of(query, name)
        if plan is None:
            if not self.prepared_reads.knows(query, name):
                context.learn_plan = self.prepared_reads.learner(query, name)
            return None
        answer = await plan.answer(context, variables or {})
        if answer is None:
            return None
        errors: list[GraphQLError] | None = answer.get("errors")
        if errors:
            self.schema.process_errors(errors, None)
            answer["errors"] = [_format_error(error) for error in errors]
        return cast(GraphQLHTTPResponse, answer)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(GRAPHIQL_PAGE)

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        # Strawberry refuses a malformed form or a file the map names but the form lacks; a
        # `map` or `operations` of the wrong shape (a list, a path through a number) fails
        # deeper in its placing of the files, and is the client's mistake as much. (cross_web is
        # Strawberry's own HTTP layer, a dependency of strawberry-graphql.)
        try:
            return await super().parse_multipart(request)
        except StrawberryHTTPException:
            raise
        except (AttributeError, TypeError, IndexError, ValueError) as error:
            raise StrawberryHTTPException(
                400, "The form does not follow the GraphQL multipart request spec."
            ) from error

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [_format_error(error) for error in result.errors]
        return response


def graphql_router(schema: Schema) -> DinsosGraphQLRouter:
    # Multipart (the GraphQL multipart request spec) for file uploads. Strawberry leaves it off
    # by default because a browser sends a multipart form cross-site without a preflight
    # (CSRF); here every data field needs the bearer token in the Authorization header, which a
    # cross-site form cannot set, so such a request reaches nothing but the public schema.
    return DinsosGraphQLRouter(
        schema,
        context_getter=graphql_context,
        graphql_ide="graphiql",
        multipart_uploads_enabled=True,
        # Only the maintained protocol; the legacy `graphql-ws` one is not offered.
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
