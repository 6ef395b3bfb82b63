"""Request rates per caller and per address, counted with ``limits``.

The store is this process's memory by default, which is right for one process only: several
replicas behind a load balancer must share one (``DINSOS_RATE_LIMIT_STORAGE``: ``postgresql``
for the service's own database, or a Redis or Valkey URL), or each would grant the whole rate
again. A refused hit is not counted, so a caller that keeps trying while refused does not push
its own window further out."""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
import weakref

from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindow
from limits.aio.strategies import SlidingWindowCounterRateLimiter as AsyncSlidingWindowCounter
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from service.errors import TooManyRequests
from service.rate_limit_counts.storage import PostgresStorage
from service.settings import Settings

log = logging.getLogger(__name__)


def _rate(value: str) -> RateLimitItem | None:
    return parse(value) if value.strip() else None


def uses_database(uri: str) -> bool:
    """``postgresql``: the service's own database (its URL is the service's, not repeated)."""
    return uri.strip().removesuffix("://") in ("postgresql", "postgres")


def _shared_storage(uri: str) -> AsyncStorage:
    """A Redis or Valkey URL (Valkey speaks Redis's protocol), through the ``redis`` package
    (redis-py: one well-kept client, and no extra dependency tree)."""
    scheme, _, rest = uri.removeprefix("async+").partition("://")
    options = {}
    if scheme in ("redis", "rediss", "valkey", "valkeys"):
        scheme = scheme.replace("valkey", "redis")
        options["implementation"] = "redispy"
    # ``limits`` names its asyncio stores "async+redis://..."; operators write "redis://".
    storage = storage_from_string(f"async+{scheme}://{rest}", **options)
    assert isinstance(storage, AsyncStorage)  # the "async+" scheme gives an asyncio store
    return storage


class _Sweeper:
    """One daemon thread per process that sweeps every store that has counted something, once
    a second, and ends when none is left. One thread, not one per store: a process that makes
    many applications (the test suite makes one per test, and closes few) had hundreds of
    sweepers, and each one's wake-up took the interpreter's lock from the event loop."""

    def __init__(self) -> None:
        self._stores: weakref.WeakSet[_SweptStorage] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, store: _SweptStorage) -> None:
        with self._lock:
            self._stores.add(store)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._sweep_while_needed, name="rate-limit-expiry", daemon=True
                )
                self._thread.start()

    def discard(self, store: _SweptStorage) -> None:
        with self._lock:
            self._stores.discard(store)

    def _sweep_while_needed(self) -> None:
        while True:
            time.sleep(1.0)
            with self._lock:
                stores = list(self._stores)
                if not stores:
                    self._thread = None
                    return
            for store in stores:
                try:
                    store.sweep()
                except Exception:  # noqa: BLE001 - the next sweep tries again; hits are unaffected
                    log.exception("rate limit expiry sweep failed")


_SWEEPER = _Sweeper()


class _SweptStorage(MemoryStorage):
    """limits' memory store with its expired counters dropped once a second by the process's
    one sweeper thread (``_Sweeper``). The store's own way starts a timer thread whenever the
    previous one has run (every 10 ms under load): measured at 5% of a region read for the
    thread starts alone, each of which also waits for the new thread to run. Sweeping in the
    request instead would walk every key on the event loop (300 ms with 200,000 keys). Dropping
    expired entries only frees memory: every read of the store checks expiry itself.

    The sweep takes each key's lock from the store's ``locks``, as the store's own methods do
    when they change that key (``acquire_entry``, ``incr``, ``decr``), and checks expiry again
    under it, so a hit counted on the event loop meanwhile is kept."""

    def __init__(self) -> None:
        super().__init__()
        self._swept = False

    def _MemoryStorage__schedule_expiry(self) -> None:  # the store's private hook, replaced
        if not self._swept:
            self._swept = True
            _SWEEPER.add(self)

    def sweep(self) -> None:
        """Drops the expired moving-window entries and counters (keys whose lock is not
        otherwise in use lose it too, as in the store's own sweep)."""
        now = time.time()
        for key in list(self.events):  # a copy: the event loop adds keys meanwhile
            events = self.events.get(key)
            if events and events[-1].expiry > now:
                continue  # the oldest entry (last) still counts: nothing to drop
            with self.locks[key]:
                events = self.events.get(key)
                if events:
                    keep = bisect.bisect_left(events, -now, key=lambda entry: -entry.expiry)
                    if keep < len(events):
                        self.events[key] = events[:keep]
                if not self.events.get(key):
                    self.events.pop(key, None)
                self._forget_lock(key)
        for key in [key for key, expiry in list(self.expirations.items()) if expiry <= now]:
            with self.locks[key]:
                if self.expirations.get(key, math.inf) <= now:
                    self.storage.pop(key, None)
                    self.expirations.pop(key, None)
                self._forget_lock(key)

    def _forget_lock(self, key: str) -> None:
        """Under the key's lock, the last thing done with it: a key with nothing left."""
        if key not in self.storage and key not in self.events:
            self.locks.pop(key, None)

    def close(self) -> None:
        """No more sweeps of this store (a later hit asks for them again)."""
        self._swept = False
        _SWEEPER.discard(self)


class _Local:
    """Both strategies on this process's memory."""

    def __init__(self) -> None:
        self.storage = _SweptStorage()
        storage = self.storage
        self.exact = MovingWindowRateLimiter(storage)
        self.counted = SlidingWindowCounterRateLimiter(storage)


class _Shared:
    """Both strategies on a store that every replica reaches."""

    def __init__(self, storage: AsyncStorage) -> None:
        self.exact = AsyncMovingWindow(storage)
        self.counted = AsyncSlidingWindowCounter(storage)


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage
        # In memory, the synchronous store: its asyncio twin starts a task per hit that hops to
        # a thread for every key it expires, measured at 30 us a request against 5 here.
        local = uri.removeprefix("async+").startswith("memory://")
        self._local = _Local() if local else None
        self._database = (
            PostgresStorage(settings.rate_limit_storage_timeout_seconds)
            if uses_database(uri)
            else None
        )
        self._shared = None if local else _Shared(self._database or _shared_storage(uri))
        self._token_address = _rate(settings.rate_limit_token_per_address)
        self._token_client = _rate(settings.rate_limit_token_per_client)
        self._api = _rate(settings.rate_limit_api_per_client)
        self._disclosures = _rate(settings.rate_limit_identity_disclosures_per_client)

    def use_database(self, url: str) -> None:
        """The service's database, known when the application starts (an embedded server's
        address only then): where ``postgresql`` counts. Nothing to do for the other stores."""
        if self._database is not None:
            self._database.bind(url)

    def storage_in_memory(self) -> _SweptStorage | None:
        """This process's store, when the counts live in memory (tests read it back)."""
        return self._local.storage if self._local is not None else None

    async def close(self) -> None:
        if self._local is not None:
            self._local.storage.close()
        if self._database is not None:
            await self._database.close()

    # Small rates (tokens, regency answers) in an exact moving window; the API's large one in
    # a sliding-window counter: constant memory and time per client, where a moving window
    # keeps (and shifts) one entry per request of the window.

    async def hit_token_address(self, address: str) -> None:
        await self._hit(self._token_address, "token-address", address)

    async def hit_token_client(self, client_id: str) -> None:
        await self._hit(self._token_client, "token-client", client_id)

    async def hit_api(self, client_id: str) -> None:
        await self._hit(self._api, "api", client_id, counted=True)

    async def hit_identity_disclosure(self, client_id: str) -> None:
        await self._hit(self._disclosures, "identity-disclosure", client_id)

    async def _hit(self, rate: RateLimitItem | None, *key: str, counted: bool = False) -> None:
        if rate is None:
            return
        if self._local is not None:
            local = self._local.counted if counted else self._local.exact
            if local.hit(rate, *key):
                return
            window = local.get_window_stats(rate, *key)
        else:
            assert self._shared is not None
            shared = self._shared.counted if counted else self._shared.exact
            try:
                if await shared.hit(rate, *key):
                    return
                window = await shared.get_window_stats(rate, *key)
            except Exception as failure:  # noqa: BLE001 - a shared store that cannot answer
                # A shared store down (Redis restarting) must not take the whole API down with
                # it: the request passes uncounted, and the log says so.
                log.warning("rate limit store unavailable: %s", type(failure).__name__)
                return
        # When the oldest hit of the window leaves it; at least a second (Retry-After is whole).
        raise TooManyRequests(retry_after=max(1, math.ceil(window.reset_time - time.time())))
