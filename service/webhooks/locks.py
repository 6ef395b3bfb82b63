"""Who sends for a subscription now: a session-level advisory lock per subscription, held on one
dedicated connection per dispatcher that never opens a transaction.

Why not ``SELECT ... FOR UPDATE SKIP LOCKED`` around the send: a row lock lives in a
transaction, and a transaction that locks rows takes a transaction id. Held open during an HTTP
call (up to the timeouts, for every slow receiver), it would hold the change feed's horizon
(``pg_snapshot_xmin``) back for every feed reader and every other subscription. A session-level
advisory lock takes no transaction id and holds back nothing; the sends' bookkeeping happens in
short transactions of their own. It is also released by the server the moment the holding
process dies (its connection closes), so there is no lease to expire or tune. The lock is per
subscription, not per delivery, because order per subscription is the point: one holder sends
a subscription's deliveries one after the other, and two holders can never overlap.

Why not procrastinate: a job queue runs jobs in any order across workers and retries each job
on its own; in-order delivery per subscription with a head-of-line wait is exactly what it
does not give, and the outbox rows already are the queue (written by the trigger in the
writer's transaction).

The same connection LISTENs for committed changes, so a dispatcher wakes when there is work.
"""

from __future__ import annotations

from collections.abc import Callable

from service.advisory_locks import SessionLocks

# The first key of the two-key advisory lock: this lock family ("WH").
LOCK_FAMILY = 0x5748


class SubscriptionLocks(SessionLocks):
    def __init__(self, dsn: str, channels: tuple[str, ...], on_notify: Callable[[], None]):
        super().__init__(
            dsn,
            family=LOCK_FAMILY,
            application_name="dinsos-webhooks",
            channels=channels,
            on_notify=on_notify,
            lost_message="the webhook dispatcher's lock connection was lost; its locks are "
            "released",
        )
