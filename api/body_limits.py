"""Request body limits per route, enforced before anything reads the body.

A body larger than its route allows is refused with 413 problem+json: at once when its
``Content-Length`` says so (nothing is read, nothing parsed), and as soon as the count passes the
limit when it arrives chunked. Without this, a 200 MB JSON body is read and parsed whole, holding
the event loop, before validation refuses it."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from api.problems import problem_response

CONTENT_TOO_LARGE = "content_too_large"


def too_large_detail(limit: int) -> str:
    return f"The request body is larger than this route accepts ({limit:,} bytes)."


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit. An ``HTTPException``, so
    FastAPI's body parsing lets it through (any other error there becomes a 400) and the problem
    handler renders it."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_detail(limit))


class BodyLimits:
    """``limits`` maps a path to its own limit; every other path gets ``default``.
    ``upload_limits`` maps a path to the limit of its ``multipart/form-data`` bodies (GraphQL's
    file uploads, whose JSON bodies keep the path's own limit): only files may be large there,
    each other part is held to the form parser's 1 MB. Enforced by the edge middleware
    (``api.edge``) through ``guard``."""

    def __init__(
        self,
        *,
        default: int,
        limits: Mapping[str, int],
        upload_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.default = default
        self.limits = dict(limits)
        self.upload_limits = dict(upload_limits or {})

    def _limit(self, scope: Scope) -> int:
        path = scope["path"]
        if path in self.upload_limits and _is_multipart(scope):
            return self.upload_limits[path]
        return self.limits.get(path, self.default)

    def guard(self, scope: Scope, receive: Receive) -> Receive | int:
        """The ``receive`` to read the body with (``receive`` itself when the declared length is
        within the limit: the server delivers no more than that), or the limit when the declared
        length is already over it (then ``refuse``)."""
        limit = self._limit(scope)
        declared = _content_length(scope)
        if declared is not None:
            return limit if declared > limit else receive
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return receive_within_limit


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.lower().startswith(b"multipart/form-data"))
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None


async def refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    request = Request(scope, receive)
    response = problem_response(
        request, status=413, code=CONTENT_TOO_LARGE, detail=too_large_detail(limit)
    )
    # The client may still be sending; closing lets the server drop the rest unread.
    response.headers["Connection"] = "close"
    await response(scope, receive, send)
