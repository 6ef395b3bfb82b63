"""Every DCI message a test sends or receives is checked against the repository's copy of the
spec (api/dci/spec/social_api_v1.0.0.yaml) with ``jsonschema``.

The spec is OpenAPI 3.0.3, whose schemas are JSON Schema draft 4 with a few extra keywords
(``example``, ``format: int32``...), which draft 4 ignores. ``$ref``s are JSON pointers into the
whole document, so the document is the one resource every schema resolves against.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator, FormatChecker

SPEC_PATH = Path(__file__).resolve().parents[2] / "api" / "dci" / "spec" / "social_api_v1.0.0.yaml"

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339 with a time zone (``Z`` or an offset), as the spec's ``timestamp`` says."""
    if not isinstance(value, str):
        return True
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError(f"{value!r} has no time zone")
    return True


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


def _operation(path: str) -> dict[str, Any]:
    paths: dict[str, Any] = spec()["paths"]
    if path not in paths:
        raise AssertionError(f"{path} is not a path of the DCI spec")
    operation: dict[str, Any] = paths[path]["post"]
    return operation


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """A ``$ref`` to a component (a response) followed, for the responses' indirection."""
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _validate(schema: dict[str, Any], body: Any, what: str) -> None:
    # The schema is checked as the root of a copy of the whole document (draft 4 ignores the
    # siblings of ``$ref``), so its "#/components/..." refs resolve against the spec.
    validator = Draft4Validator(
        {**spec(), "$ref": "#/x-checked", "x-checked": schema}, format_checker=FORMATS
    )
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        details = "\n".join(
            f"- at {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message[:300]}"
            for error in errors
        )
        raise AssertionError(f"{what} does not match the DCI spec:\n{details}")


def assert_request_valid(path: str, body: dict[str, Any]) -> None:
    """``body`` is a valid JSON request to ``path`` (e.g. "/registry/sync/search", or a
    callback such as "/registry/on-search")."""
    schema = _operation(path)["requestBody"]["content"]["application/json"]["schema"]
    _validate(schema, body, f"The request to {path}")


def assert_response_valid(path: str, status: int, body: dict[str, Any]) -> None:
    """``body`` is what the spec allows ``path`` to answer with ``status`` (its own entry, or
    ``default``)."""
    responses: dict[str, Any] = _operation(path)["responses"]
    response = _resolve(responses.get(str(status)) or responses["default"])
    schema = response["content"]["application/json"]["schema"]
    _validate(schema, body, f"The {status} response of {path}")
