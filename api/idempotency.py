"""The HTTP side of idempotency keys: the header, and the answer (fresh or replayed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from api.deps import REQUIRED_HEADER, etag
from service.idempotency.service import HEADER, LIFETIME, Outcome, canonical_json

REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="A unique value per request (a UUID, say), sent again unchanged "
        "only when retrying that request: a retry with the same key and body gets the first "
        f"answer back (header `{REPLAYED_HEADER}: true`) instead of paying again. Keys are "
        f"kept {int(LIFETIME.total_seconds() // 3600)} hours per client. The same key with "
        "another body answers 422 `idempotency_key_reused`; while the first request is still "
        "running, 409 `idempotency_in_progress`; without the header, 428 "
        "`idempotency_key_required`.",
        examples=["3f1c9a2e-6b1d-4f7e-9d3a-2c8b5e0f4a17"],
        # The shape check_key enforces (visible ASCII, 1 to 255), stated for clients and
        # fuzzers; a blank value counts as missing (428).
        json_schema_extra={REQUIRED_HEADER: True, "pattern": "^[!-~]{1,255}$"},
    ),
]


class CanonicalJSONResponse(JSONResponse):
    """Keys in sorted order: the stored answer (JSONB keeps its own key order) then renders to
    the very same bytes on the first answer and on every replay."""

    def render(self, content: Any) -> bytes:
        return canonical_json(content)


def idempotent_response(outcome: Outcome, *, location: str | None = None) -> CanonicalJSONResponse:
    """The stored answer: a replay has the same status and body as the first one."""
    body: dict[str, Any] = outcome.response.body
    headers: dict[str, str] = {}
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    if location is not None:
        headers["Location"] = location
    if isinstance(body.get("version"), int):
        headers["ETag"] = etag(body["version"])
    return CanonicalJSONResponse(body, status_code=outcome.response.status, headers=headers)


REPLAYED_RESPONSE_HEADER: dict[str, Any] = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
