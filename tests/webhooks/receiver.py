"""A real HTTP receiver for the webhook tests: uvicorn serving a small Starlette app on a free
loopback port, in the test's own event loop. It verifies every message with the Standard
Webhooks reference code and keeps what arrived; how it answers is up to the test."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    message_id: str
    headers: dict[str, str]
    body: str
    # Which of the receiver's secrets verified the signature (by name).
    verified_by: list[str]
    # The status answered (None while the answer is still being decided).
    answered: int | None = None

    @property
    def message(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def record_id(self) -> str:
        return str(self.message["data"]["record_id"])


# Decides the answer to a message: a status code (after waiting, if the test wants a slow
# receiver).
Answerer = Callable[[Received], Awaitable[int]]


async def always_ok(_: Received) -> int:
    return 200


@dataclass
class Receiver:
    base_url: str
    secrets: dict[str, str] = field(default_factory=dict)
    answer: Answerer = always_ok
    received: list[Received] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def at(self, path: str) -> list[Received]:
        return [message for message in self.received if message.path == path]

    def accepted(self, path: str) -> list[Received]:
        """Messages at ``path`` answered with a 2xx, in arrival order."""
        return [m for m in self.at(path) if m.answered is not None and 200 <= m.answered < 300]

    async def wait_until(self, check: Callable[[], bool], timeout: float = 30) -> None:
        """Until ``check()`` holds, woken by each message's answer."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(check)

    async def _handle(self, request: Request) -> Response:
        body = (await request.body()).decode()
        headers = {name: value for name, value in request.headers.items()}
        verified = []
        for name, secret in self.secrets.items():
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified.append(name)
        message = Received(
            request.path_params["path"], headers.get("webhook-id", ""), headers, body, verified
        )
        async with self._changed:
            self.received.append(message)
        status = await self.answer(message)
        async with self._changed:
            message.answered = status
            self._changed.notify_all()
        return Response(status_code=status)


@asynccontextmanager
async def running_receiver(
    host: str = "127.0.0.1", *, tls: tuple[Path, Path] | None = None, name: str | None = None
) -> AsyncIterator[Receiver]:
    """A receiver on ``host``; over TLS with ``tls`` (certificate file, key file), reached as
    ``https://{name}:port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    scheme = "https" if tls else "http"
    receiver = Receiver(f"{scheme}://{name or host}:{port}")
    app = Starlette(routes=[Route("/{path}", receiver._handle, methods=["POST"])])
    certificate, key = tls or (None, None)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_certfile=certificate,
            ssl_keyfile=key,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await serving
        sock.close()
