"""The OpenAPI document as integrators read it: every error response is problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.deps import REQUIRED_HEADER
from api.problems import PROBLEM_MEDIA_TYPE, TOKEN_PATH

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# Any operation that reaches the database may also answer these two.
_SERVER_ERRORS = {
    "500": "Internal error: quote the `request_id` to the operators",
    "503": "The database is unreachable for a moment: retry after `Retry-After` seconds",
}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for path, path_item in document.get("paths", {}).items():
        for operation in path_item.values():
            _mark_required_headers(operation)
            if path == TOKEN_PATH:
                # FastAPI adds a 422 to every operation with parameters; the token endpoint
                # refuses malformed requests with RFC 6749's 400 `invalid_request` instead.
                operation["responses"].pop("422", None)
            if path.startswith(("/api/", "/oauth/")):
                for status, description in _SERVER_ERRORS.items():
                    operation["responses"].setdefault(
                        status,
                        {
                            "description": description,
                            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
                        },
                    )
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400 and status != "503":
                    # FastAPI documents its own validation shape for 422; ours is a Problem.
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
                    if status == "422":
                        response["description"] = "Validation failed"
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = document
    return document


def _mark_required_headers(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") == "header" and schema.pop(REQUIRED_HEADER, False):
            parameter["required"] = True
            # A required header is never null: keep the string branch of `str | None`.
            branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
            if len(branches) == 1:
                schema.update(branches[0])
