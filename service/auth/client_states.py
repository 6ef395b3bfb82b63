"""What each process remembers of the clients it has checked, so that a request's token is
checked against the client as it is now without reading the client's row every time.

A client row that changes (revoked, secret rotated, scopes withdrawn, region moved, deleted)
sends ``NOTIFY api_client`` with its id at the commit of that change (migration 0011); every
process listens on one connection of its own and forgets that client, so the change takes
effect on the next request on every replica, as when the row was read on each request.

Nothing is remembered unless the process is listening: before the connection is up, after it
drops and until it listens again, every check reads the row (and the
``dinsos_client_cache_listening`` gauge says 0). A row read while a notification may have
passed it by is not remembered either: each notification, and each (re)connection, moves an
epoch, and a row is kept only if the epoch did not move while it was being read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client import Gauge

log = logging.getLogger(__name__)

CHANNEL = "api_client"
# The most clients a process remembers; past it, the oldest are forgotten first.
CAPACITY = 10_000
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0

LISTENING = Gauge(
    "dinsos_client_cache_listening",
    "1 while this process listens for client changes and may trust what it remembers of "
    "clients; 0 while every request reads its client's row",
)


@dataclass(frozen=True)
class ClientState:
    """A client's row as far as checking a token needs it."""

    name: str
    scopes: frozenset[str]
    region_code: str | None
    secret_generation: int
    revoked: bool


class ClientStates:
    """The remembered clients of one process, kept true by ``LISTEN api_client``."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._states: dict[uuid.UUID, ClientState] = {}
        self._epoch = 0
        self._listening = False
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        # Others remembering per-client state on the same terms (the DCI sender keys): told
        # whenever a client (None: every client) is forgotten.
        self._forgetters: list[Callable[[uuid.UUID | None], None]] = []

    @property
    def listening(self) -> bool:
        return self._listening

    @property
    def epoch(self) -> int:
        """Take it before reading a row; hand it to ``remember`` with the row."""
        return self._epoch

    def recall(self, client_id: uuid.UUID) -> ClientState | None:
        return self._states.get(client_id) if self._listening else None

    def remember(self, client_id: uuid.UUID, state: ClientState, epoch: int) -> None:
        """Keep ``state``, read after ``epoch`` was taken, unless something may have changed
        since (a notification, a reconnection) or nobody listens."""
        if not self._listening or epoch != self._epoch:
            return
        if len(self._states) >= CAPACITY:
            # Dicts keep insertion order: the first key is the longest remembered.
            self._states.pop(next(iter(self._states)))
        self._states[client_id] = state

    def on_forget(self, forget: Callable[[uuid.UUID | None], None]) -> None:
        """Call ``forget`` with a client's id when it is forgotten, with None for all."""
        self._forgetters.append(forget)

    def start(self) -> None:
        """Listen in the background from now on (the application's start-up)."""
        if self._task is None:
            self._task = asyncio.create_task(self._keep_listening())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._forget_all(listening=False)

    async def _keep_listening(self) -> None:
        wait = RECONNECT_FIRST_SECONDS
        while True:
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("cannot listen for client changes: %s", type(error).__name__)
                await asyncio.sleep(wait)
                wait = min(wait * 2, RECONNECT_MAX_SECONDS)
                continue
            wait = RECONNECT_FIRST_SECONDS
            self._lost.clear()
            try:
                connection.add_termination_listener(self._connection_lost)
                await connection.add_listener(CHANNEL, self._notified)
                # Listening from here on: what is read from now on can be trusted.
                self._forget_all(listening=True)
                await self._lost.wait()
                log.warning("the client change connection was lost; reconnecting")
            finally:
                self._forget_all(listening=False)
                if not connection.is_closed():
                    connection.terminate()

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: object) -> None:
        self._epoch += 1
        try:
            client_id: uuid.UUID | None = uuid.UUID(str(payload))
        except ValueError:  # '*': the table was truncated
            client_id = None
        if client_id is None:
            self._states.clear()
        else:
            self._states.pop(client_id, None)
        for forget in self._forgetters:
            forget(client_id)

    def _connection_lost(self, *_: Any) -> None:
        self._forget_all(listening=False)
        self._lost.set()

    def _forget_all(self, *, listening: bool) -> None:
        self._epoch += 1
        self._states.clear()
        for forget in self._forgetters:
            forget(None)
        self._listening = listening
        LISTENING.set(1 if listening else 0)
