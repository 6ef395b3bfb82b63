"""Request rates per caller and per address, counted with ``limits`` (a moving window).

The store is this process's memory by default, which is right for one process only: several
replicas behind a load balancer must share one (``DINSOS_RATE_LIMIT_STORAGE``, Redis or
Valkey), or each would grant the whole rate again. A refused hit is not counted, so a caller
that keeps trying while refused does not push its own window further out."""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindow
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from service.errors import TooManyRequests
from service.settings import Settings

log = logging.getLogger(__name__)


def _rate(value: str) -> RateLimitItem | None:
    return parse(value) if value.strip() else None


def _shared_limiter(uri: str) -> AsyncMovingWindow:
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
    return AsyncMovingWindow(storage)


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage
        # In memory, the synchronous store: its asyncio twin starts a task per hit that hops to
        # a thread for every key it expires, measured at 30 us a request against 5 here.
        self._local = (
            MovingWindowRateLimiter(MemoryStorage())
            if uri.removeprefix("async+").startswith("memory://")
            else None
        )
        self._shared = _shared_limiter(uri) if self._local is None else None
        self._token_address = _rate(settings.rate_limit_token_per_address)
        self._token_client = _rate(settings.rate_limit_token_per_client)
        self._api = _rate(settings.rate_limit_api_per_client)
        self._disclosures = _rate(settings.rate_limit_identity_disclosures_per_client)

    async def hit_token_address(self, address: str) -> None:
        await self._hit(self._token_address, "token-address", address)

    async def hit_token_client(self, client_id: str) -> None:
        await self._hit(self._token_client, "token-client", client_id)

    async def hit_api(self, client_id: str) -> None:
        await self._hit(self._api, "api", client_id)

    async def hit_identity_disclosure(self, client_id: str) -> None:
        await self._hit(self._disclosures, "identity-disclosure", client_id)

    async def _hit(self, rate: RateLimitItem | None, *key: str) -> None:
        if rate is None:
            return
        if self._local is not None:
            if self._local.hit(rate, *key):
                return
            window = self._local.get_window_stats(rate, *key)
        else:
            assert self._shared is not None
            try:
                if await self._shared.hit(rate, *key):
                    return
                window = await self._shared.get_window_stats(rate, *key)
            except Exception as failure:  # noqa: BLE001 - a shared store that cannot answer
                # A shared store down (Redis restarting) must not take the whole API down with
                # it: the request passes uncounted, and the log says so.
                log.warning("rate limit store unavailable: %s", type(failure).__name__)
                return
        # When the oldest hit of the window leaves it; at least a second (Retry-After is whole).
        raise TooManyRequests(retry_after=max(1, math.ceil(window.reset_time - time.time())))
