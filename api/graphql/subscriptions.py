"""GraphQL over WebSocket (the ``graphql-transport-ws`` protocol at ``/graphql``): who a
connection acts for, how many live subscriptions a client may hold, and when its connection is
closed.

- **Authenticated once, in ``connection_init``.** Its payload carries the bearer token,
  ``{"Authorization": "Bearer <token>"}`` (as the HTTP header would), or ``{"token":
  "<token>"}``. No token, or one that is not valid now, closes the socket with 4403
  (``Forbidden``, as the protocol says for a refused ``connection_init``); a ``subscribe``
  before the acknowledgement closes it with 4401.
- **Closed when the token stops being valid.** A watcher per connection closes it with 4403
  when the token expires, or when the client's row changes (revoked, secret rotated, scopes or
  region changed: the token is checked again as on the next request). It learns of changes
  from the process's ``LISTEN api_client`` (``service.auth.client_states``), so a revocation
  closes the socket within moments; while that listener is down it checks every
  ``RECHECK_UNHEARD_SECONDS`` instead.
- **Cross-site pages gain nothing.** Browsers do not apply CORS to WebSocket handshakes and send
  the site's cookies with them; this service uses no cookies, and a page on another site has no
  token to put in the init payload, so it cannot act as anyone. Strawberry also refuses a
  handshake whose ``Origin`` is another site's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from api.deps import connection_caller
from api.graphql.context import GraphQLContext
from service.access import Caller
from service.auth.service import caller_from_token
from service.auth.tokens import read_token
from service.errors import TooManyRequests, Unauthorized
from service.settings import Settings

log = logging.getLogger(__name__)

# graphql-transport-ws: a refused connection_init (and here also a token no longer valid).
FORBIDDEN = 4403
# While the process does not hear of client changes, the token is checked this often.
RECHECK_UNHEARD_SECONDS = 10.0


def token_in(payload: object) -> str | None:
    """The bearer token of a ``connection_init`` payload, in either of its two spellings."""
    if not isinstance(payload, dict):
        return None
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return (token.strip() or None) if scheme.lower() == "bearer" else None
    value = payload.get("token")
    return (value.strip() or None) if isinstance(value, str) else None


class ClientWatch:
    """The open connections of each client in this process, woken when the client changes."""

    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, set[asyncio.Event]] = {}

    def forget(self, client_id: uuid.UUID | None) -> None:
        """``ClientStates`` forgot a client (None: every client): its connections check again."""
        if client_id is None:
            groups = list(self._waiting.values())
        else:
            groups = [self._waiting.get(client_id, set())]
        for events in groups:
            for event in events:
                event.set()

    @contextmanager
    def watching(self, client_id: uuid.UUID) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.setdefault(client_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiting.get(client_id, set())
            events.discard(event)
            if not events:
                self._waiting.pop(client_id, None)


def client_watch(websocket: WebSocket) -> ClientWatch:
    """The process's one ``ClientWatch``, told by the client states of each change."""
    state = websocket.app.state
    watch: ClientWatch | None = getattr(state, "client_watch", None)
    if watch is None:
        watch = state.client_watch = ClientWatch()
        states = getattr(state, "client_states", None)
        if states is not None:
            states.on_forget(watch.forget)
    return watch


async def authenticate(websocket: WebSocket, payload: object) -> tuple[Caller, asyncio.Task[None]]:
    """The caller of a connection, from its init payload, and the task that closes the
    connection once the token is no longer valid. ``Unauthorized`` (or ``TooManyRequests``)
    when refused."""
    token = token_in(payload)
    if token is None:
        raise Unauthorized(
            'Send {"Authorization": "Bearer <token>"} in the connection_init payload.',
            code="unauthorized",
        )
    caller = await connection_caller(websocket, f"Bearer {token}")
    expires_at = read_token(websocket.app.state.token_keys, token).expires_at
    watcher = asyncio.create_task(_close_when_invalid(websocket, token, caller, expires_at))
    return caller, watcher


async def _close_when_invalid(
    websocket: WebSocket, token: str, caller: Caller, expires_at: float
) -> None:
    assert caller.client_id is not None
    state = websocket.app.state
    states = getattr(state, "client_states", None)
    with client_watch(websocket).watching(caller.client_id) as changed:
        # Checked once at once: a change notified after the token was checked, but before this
        # watch began, would otherwise go unseen.
        changed.set()
        while True:
            left = expires_at - time.time()
            if left <= 0:
                await _close(websocket, "The access token has expired.")
                return
            heard = states is not None and states.listening
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    changed.wait(), left if heard else min(left, RECHECK_UNHEARD_SECONDS)
                )
            changed.clear()
            try:
                now = await caller_from_token(
                    state.sessions,
                    state.token_keys,
                    token,
                    request_id=None,
                    clients=states,
                    tokens=state.token_cache,
                )
            except Unauthorized:
                await _close(websocket, "The access token is no longer valid.")
                return
            except Exception as error:  # the database away: the connection stays, checked later
                log.warning("cannot check a subscriber's client: %s", type(error).__name__)
                continue
            if (now.scopes, now.region_code) != (caller.scopes, caller.region_code):
                await _close(websocket, "The client's scopes changed: connect again.")
                return


async def _close(websocket: WebSocket, reason: str) -> None:
    with contextlib.suppress(RuntimeError):  # already closed
        await websocket.close(code=FORBIDDEN, reason=reason)


class TransportWSHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """Strawberry's handler, stopping the connection's watcher when the connection ends."""

    async def shutdown(self) -> None:
        watcher = self.context.connection_watcher
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await super().shutdown()


def subscription_over_http(context: ExecutionContext) -> GraphQLError | None:
    """Strawberry would also run a subscription sent over HTTP (as a multipart stream, or as a
    query that fails): refused, since nothing there ends it when the client is revoked."""
    request = getattr(context.context, "request", None)
    if (
        context.graphql_document is not None
        and context.operation_type is OperationType.SUBSCRIPTION
        and not isinstance(request, WebSocket)
    ):
        return GraphQLError(
            "Subscribe over a WebSocket (graphql-transport-ws) at /graphql.",
            extensions={"code": "websocket_required", "status": 400},
        )
    return None


class SubscriptionSlots:
    """How many live subscriptions each client, and the whole process, holds now."""

    def __init__(self, per_client: int, total: int) -> None:
        self._per_client = per_client
        self._total = total
        self._held: Counter[uuid.UUID | None] = Counter()

    @staticmethod
    def of(websocket: WebSocket) -> SubscriptionSlots:
        state = websocket.app.state
        slots: SubscriptionSlots | None = getattr(state, "subscription_slots", None)
        if slots is None:
            settings: Settings = state.settings
            slots = state.subscription_slots = SubscriptionSlots(
                settings.graphql_max_subscriptions_per_client,
                settings.graphql_max_subscriptions,
            )
        return slots

    @contextmanager
    def taken(self, caller: Caller) -> Iterator[None]:
        if self._held[caller.client_id] >= self._per_client:
            raise TooManyRequests(
                30, f"A client may hold {self._per_client} subscriptions at once."
            )
        if self._held.total() >= self._total:
            raise TooManyRequests(30, "The server holds as many subscriptions as it may.")
        self._held[caller.client_id] += 1
        try:
            yield
        finally:
            self._held[caller.client_id] -= 1
            if not self._held[caller.client_id]:
                del self._held[caller.client_id]
