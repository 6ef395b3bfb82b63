"""When a failed delivery is tried again, and when it is given up (parked).

Exponential backoff with full jitter: the n-th wait is drawn evenly from 0 to
``min(max_wait, base * 2**(n-1))``, so a receiver that comes back after an outage is not hit by
every subscription's retries in the same second. Retries go on until ``window`` has passed
since the first try of the delivery's current run (a redelivery starts a new run)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float
    window_seconds: float

    def wait_after(self, attempts: int) -> timedelta:
        """The wait before the next try, after ``attempts`` failed tries (1 or more)."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** min(attempts - 1, 62))
        return timedelta(seconds=random.uniform(0, ceiling))

    def gives_up(self, first_try_at: datetime, now: datetime) -> bool:
        return now - first_try_at >= timedelta(seconds=self.window_seconds)
