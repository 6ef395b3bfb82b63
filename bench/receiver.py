"""The webhook receiver of the fan-out pair: a bare ASGI app (no framework) that answers 204 to
every POST and counts them, so that it costs as little as possible beside what it measures.
``GET /count`` answers the counts as JSON. Run as ``uvicorn bench.receiver:app``.

Requests without a ``webhook-signature`` header are counted apart: a sender that forgets to
sign would otherwise look fast."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_counts = {"received": 0, "unsigned": 0, "bytes": 0}


async def _read_body(receive: Receive) -> int:
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    return size


async def _answer(send: Send, status: int, body: bytes = b"") -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":
        _counts["bytes"] += await _read_body(receive)
        _counts["received"] += 1
        if not any(name == b"webhook-signature" for name, _ in scope["headers"]):
            _counts["unsigned"] += 1
        await _answer(send, 204)
    elif scope["path"] == "/count":
        await _answer(send, 200, json.dumps(_counts).encode())
    else:
        await _answer(send, 200 if scope["path"] == "/healthz" else 404)
