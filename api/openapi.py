"""The OpenAPI document as integrators read it: every error response is problem+json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.deps import REQUIRED_HEADER
from api.problems import PROBLEM_MEDIA_TYPE, TOKEN_PATH
from schemas.common import STRICT_INTEGER

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# Any operation that reaches the database may also answer these two.
_SERVER_ERRORS = {
    "500": "Internal error: quote the `request_id` to the operators",
    "503": "The database is unreachable for a moment: retry after `Retry-After` seconds",
}

# Every authenticated request counts against its client's rate, token requests against their
# address's and client's (service/rate_limits.py).
_TOO_MANY_REQUESTS = {
    "description": "Too many requests (`rate_limited`): retry after `Retry-After` seconds",
    "headers": {
        "Retry-After": {
            "description": "Seconds until a request may pass again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
}


DCI_PREFIX = "/dci/"


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
            _mark_required_headers(operation)
            if path == TOKEN_PATH:
                # FastAPI adds a 422 to every operation with parameters; the token endpoint
                # refuses malformed requests with RFC 6749's 400 `invalid_request` instead.
                operation["responses"].pop("422", None)
            if path.startswith(("/api/", "/oauth/")):
                operation["responses"]["429"] = _TOO_MANY_REQUESTS
                for status, description in _SERVER_ERRORS.items():
                    operation["responses"].setdefault(
                        status,
                        {
                            "description": description,
                            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
                        },
                    )
            for status, response in operation.get("responses", {}).items():
                if path.startswith(DCI_PREFIX) and status != "413":
                    continue  # the DCI door answers its errors in the DCI spec's shape
                if status.isdigit() and int(status) >= 400 and status != "503":
                    # FastAPI documents its own validation shape for 422; ours is a Problem.
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
                    if status == "422":
                        _describe_field_codes(path, operation, response, document)
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


# Refusals that the types of the document cannot state, so that a generated client (or a
# fuzzer) could not foresee them: listed on each 422 as `x-problem-codes` and in its text.
_REGION_FIELDS = {"region", "region_code", "village_code", "parent_code"}
_REGION_TEXT = "not shaped like a region code: 2, 4, 6 or 10 digits, dotted (33.28) or not (3328)"
_CURSOR_TEXT = "not a `next_cursor` this list gave"
_INTEGER_TEXT = "a number written with a fraction, even `.0` (`2000.0`): send a whole number"


def _describe_field_codes(
    path: str, operation: dict[str, Any], response: dict[str, Any], document: dict[str, Any]
) -> None:
    parameters = {
        parameter["name"]
        for parameter in operation.get("parameters", [])
        if parameter["in"] in ("query", "path")
    }
    # The region endpoints read their path's `code` as a region code.
    region_fields = _REGION_FIELDS | ({"code"} if path.startswith("/api/v1/regions/{") else set())
    body = _body_properties(operation, document.get("components", {}).get("schemas", {}))
    codes: list[dict[str, str]] = []
    # The change feed's cursor is called `after`.
    for field in sorted(parameters & {"cursor", "after"}):
        codes.append({"field": field, "code": "invalid_cursor", "when": _CURSOR_TEXT})
    for field in sorted((parameters | set(body)) & region_fields):
        codes.append({"field": field, "code": "invalid_region_code", "when": _REGION_TEXT})
    for field in sorted(name for name, schema in body.items() if _is_strict_integer(schema)):
        codes.append({"field": field, "code": "int_type", "when": _INTEGER_TEXT})
    description = "Validation failed: `code` `validation_failed`, each field in `errors[]`."
    if codes:
        response["x-problem-codes"] = codes
        description += " Besides the schema's own rules, " + "; ".join(
            f"`{item['field']}` answers `{item['code']}` for {item['when']}" for item in codes
        )
        description += "."
    response["description"] = description


def _is_strict_integer(schema: dict[str, Any]) -> bool:
    return bool(schema.get(STRICT_INTEGER)) or any(
        _is_strict_integer(branch) for branch in schema.get("anyOf", [])
    )


def _body_properties(
    operation: dict[str, Any], schemas: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Every property of the JSON request body, nested ones included, by name."""
    content = operation.get("requestBody", {}).get("content", {})
    found: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()

    def walk(schema: dict[str, Any]) -> None:
        reference = schema.get("$ref")
        if isinstance(reference, str):
            name = reference.rsplit("/", 1)[-1]
            if name in seen or name not in schemas:
                return
            seen.add(name)
            schema = schemas[name]
        for name, child in schema.get("properties", {}).items():
            found.setdefault(name, child)
            walk(child)
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in schema.get(key, []):
                walk(branch)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"])

    for media in content.values():
        walk(media.get("schema", {}))
    return found
