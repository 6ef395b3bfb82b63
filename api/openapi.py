"""The OpenAPI document as integrators read it: every error response is problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.problems import PROBLEM_MEDIA_TYPE

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
    default_limit = app.state.settings.body_max_bytes
    for path, path_item in document.get("paths", {}).items():
        for operation in path_item.values():
            if "requestBody" in operation:
                limit = app.state.body_limits.get(path, default_limit)
                operation["responses"]["413"] = {
                    "description": f"Content too large: this route accepts bodies of up to "
                    f"{limit:,} bytes",
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
                }
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
