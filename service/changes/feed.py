"""The change feed: what a caller may see of the change events, in commit order.

Events are ordered by ``(txid, id)``, the writing transaction's id first. A page hands out only
events of transactions older than the oldest transaction still running (the snapshot's
``xmin``): every such transaction has ended, so no event can still appear before a position a
reader has reached. A transaction that began first and commits last holds the feed back until
it ends (and ``held_back_seconds`` says for how long), but is never skipped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Select, Text, cast, func, or_, select, text, tuple_, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import NullType
from sqlmodel import col

from service.access import Caller, visible_to, within
from service.changes.notifications import ChangeSignal, wait_for
from service.changes.presenting import (
    SeenChange,
    StoredEvent,
    present_change,
    unmasked_personal_reads,
)
from service.changes.retention import ensure_retained
from service.changes.tables import ChangeEvent
from service.database import driver_connection, driver_rows, driver_statement
from service.errors import FieldError, ValidationFailed
from service.journal import record_reads
from service.pagination import check_limit, cursor_part, decode_cursor, encode_cursor

# The feed's pages may be larger than other lists': a page is one range scan of the index, and
# a reader draining the feed pays the fixed cost of a request (token, horizon, transaction,
# audit) once per page.
FEED_MAX_LIMIT = 2000

SCOPE = "changes:read"

# The record types whose writes are published, as the writers name them (``ENTITY``).
ENTITY_TYPES = frozenset(
    {
        "allocation",
        "disbursement",
        "facilitator",
        "kpm",
        "kube",
        "kube_grant",
        "program",
        "training_cohort",
        "training_participant",
    }
)

# One statement gives both numbers, so the metric describes the very horizon used. A
# transaction counts from its first write (when it takes an id), as in the snapshot.
_FEED_HORIZON = text(
    """
    SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS xmin,
           (SELECT extract(epoch FROM clock_timestamp() - min(xact_start))
              FROM pg_stat_activity
             WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()) AS held_back
    """
)


@dataclass(frozen=True, order=True)
class FeedPosition:
    """A place in the feed: just after the event ``(txid, event_id)``."""

    txid: int
    event_id: int

    def encode(self) -> str:
        return encode_cursor((self.txid, self.event_id))

    @staticmethod
    def decode(cursor: str) -> FeedPosition:
        """The position a cursor names; a forged one is refused, naming ``after``."""
        try:
            txid, event_id = decode_cursor(cursor, width=2)
            return FeedPosition(cursor_part(txid, int), cursor_part(event_id, int))
        except ValidationFailed:
            raise ValidationFailed(
                errors=[FieldError("after", "invalid_cursor", "The cursor is not one we gave.")]
            ) from None


@dataclass(frozen=True)
class ChangePage:
    items: list[SeenChange]
    next_cursor: str
    # How long the oldest running writer has held the feed back (0 when none runs).
    held_back_seconds: float
    # The page holds as many events as were asked for: more may follow at once.
    full: bool
    # The events the items were made of (a reference, not a copy), for ``item_cursors``.
    rows: list[StoredEvent] = field(default_factory=list, repr=False)

    def item_cursors(self) -> list[str]:
        """Each item's own cursor: ``after`` it, the feed goes on with the next item. The last
        item's is ``next_cursor``, which also passes the events this reader does not see."""
        cursors = [FeedPosition(row.txid, row.id).encode() for row in self.rows[:-1]]
        return [*cursors, self.next_cursor] if self.rows else []


RECHECK_FIRST_SECONDS = 0.05
RECHECK_MAX_SECONDS = 1.0


# The columns a page reads, in ``StoredEvent``'s order: plain rows, no ORM objects, and the
# payload as the stored JSON text, so a record that needs no masking is never decoded
# (``present_change``). A JSON ``null`` payload (a record that no longer exists) reads as no
# record, as SQL NULL does.
_READ_AS: dict[str, Any] = {
    "payload": cast(func.nullif(col(ChangeEvent.payload), text("'null'::jsonb")), Text),
    # asyncpg hands an array over as a list already: no per-row copy by SQLAlchemy's ARRAY.
    "changed_fields": type_coerce(col(ChangeEvent.changed_fields), NullType()),
}
_PAGE_COLUMNS: list[Any] = [
    _READ_AS.get(name, getattr(ChangeEvent, name)).label(name) for name in StoredEvent._fields
]


def visible_changes(caller: Caller) -> Select[Any]:
    """The change events this caller may see: those of records in its region, of national
    records (programs), which everyone may read, and of records that moved out of its region
    (which it sees as having left)."""
    query: Select[Any] = select(*_PAGE_COLUMNS)
    if caller.region_code is None:
        return query
    return query.where(
        or_(
            visible_to(caller, col(ChangeEvent.region_code)),
            within(col(ChangeEvent.previous_region_code), caller.region_code),
        )
    )


def checked_types(types: Iterable[str]) -> list[str]:
    """Entity types from ``types`` (each may list several, comma-separated)."""
    wanted = sorted({part.strip() for value in types for part in value.split(",") if part.strip()})
    unknown = [name for name in wanted if name not in ENTITY_TYPES]
    if unknown:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "types",
                    "unknown_type",
                    f"Unknown types: {', '.join(unknown)}. "
                    f"Known: {', '.join(sorted(ENTITY_TYPES))}.",
                )
            ]
        )
    return wanted


@dataclass(frozen=True)
class _FeedRead:
    """What a page or a stream reads: checked arguments, and the horizon it reads under."""

    caller: Caller
    wanted: list[str]
    position: FeedPosition | None
    horizon_txid: int
    held_back_seconds: float

    @staticmethod
    async def start(
        session: AsyncSession, caller: Caller, after: str | None, types: Iterable[str]
    ) -> _FeedRead:
        """The arguments checked (a bad one or a pruned cursor fails here) and the horizon
        taken now."""
        caller.require(SCOPE)
        wanted = checked_types(types)
        position = FeedPosition.decode(after) if after is not None else None
        if position is not None:
            await ensure_retained(session, position)
        horizon = (await session.execute(_FEED_HORIZON)).one()
        return _FeedRead(caller, wanted, position, horizon.xmin, float(horizon.held_back or 0))

    def query(self) -> Select[Any]:
        """The events to hand out, in feed order."""
        txid, event_id = col(ChangeEvent.txid), col(ChangeEvent.id)
        query = visible_changes(self.caller).where(txid < self.horizon_txid)
        if self.wanted:
            query = query.where(col(ChangeEvent.entity).in_(self.wanted))
        if self.position is not None:
            query = query.where(
                tuple_(txid, event_id) > tuple_(self.position.txid, self.position.event_id)
            )
        return query.order_by(txid, event_id)

    def page(self, rows: list[StoredEvent], *, full: bool) -> ChangePage:
        """``rows`` as the caller sees them; the cursor after them: the last one when more may
        follow, else the horizon, so that events the caller may not see or did not ask for
        are not scanned again at the next poll."""
        if full:
            reached = FeedPosition(rows[-1].txid, rows[-1].id)
        else:
            # Every event before the horizon was looked at; ids start at 1.
            reached = max(FeedPosition(self.horizon_txid, 0), self.position or FeedPosition(0, 0))
        return ChangePage(
            items=[present_change(row, self.caller) for row in rows],
            next_cursor=reached.encode(),
            held_back_seconds=self.held_back_seconds,
            full=full,
            rows=rows,
        )

    def after(self, page: ChangePage) -> _FeedRead:
        """The same read, going on after ``page``."""
        return replace(self, position=FeedPosition.decode(page.next_cursor))


async def audit_page(session: AsyncSession, caller: Caller, page: ChangePage) -> None:
    """The page's unmasked personal reads, audited in ``session``'s transaction."""
    personal = unmasked_personal_reads(page.items, caller)
    if personal:
        await record_reads(session, caller, "kpm", personal)


async def read_changes(
    session: AsyncSession,
    caller: Caller,
    *,
    after: str | None,
    types: Iterable[str] = (),
    limit: int,
) -> ChangePage:
    """The next events after the cursor ``after`` (from the oldest retained without one).
    ``next_cursor`` is always given (``_FeedRead.page``)."""
    caller.require(SCOPE)
    check_limit(limit, maximum=FEED_MAX_LIMIT)
    read = await _FeedRead.start(session, caller, after, types)
    # Fetched by the driver: plain rows, without the ORM's or SQLAlchemy's per-row work.
    rows = [StoredEvent._make(row) for row in await driver_rows(session, read.query().limit(limit))]
    page = read.page(rows, full=len(rows) == limit)
    await audit_page(session, caller, page)
    return page


# A stream hands out its events in pages of this many, each followed by its cursor.
STREAM_PAGE = 2000


async def stream_changes(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    *,
    after: str | None,
    types: Iterable[str] = (),
) -> AsyncIterator[ChangePage]:
    """Every change after ``after`` up to the feed's horizon as it is now, in pages of
    ``STREAM_PAGE``: the catch-up of a reader that is far behind, in one request. The first
    page is read before this returns, so a bad argument or a pruned cursor fails before
    anything is sent.

    One read-only statement (a cursor) reads them all, from one snapshot, so no event can be
    pruned from under it; it takes no transaction id, so it holds back no other reader's
    feed. The ``pii:read`` audit of each page is committed on a connection of its own before
    the page is handed on, while the following pages are read and audited."""
    pages = _stream_pages(sessions, caller, after, types)
    first = await anext(pages)

    async def every_page() -> AsyncIterator[ChangePage]:
        yield first
        async for page in pages:
            yield page

    return every_page()


# A stream audits its pages on this many connections at once: writing a page's audit rows costs
# the database more than reading the page, so one connection would set the stream's pace.
STREAM_AUDITORS = 2


async def _stream_pages(
    sessions: async_sessionmaker[AsyncSession],
    caller: Caller,
    after: str | None,
    types: Iterable[str],
) -> AsyncIterator[ChangePage]:
    async with AsyncExitStack() as stack:
        reading = await stack.enter_async_context(sessions())
        # Sessions take a connection on first use: a reader without pii:read audits nothing.
        auditors = [await stack.enter_async_context(sessions()) for _ in range(STREAM_AUDITORS)]
        read = await _FeedRead.start(reading, caller, after, types)
        sql, parameters = driver_statement(reading, read.query())
        cursor = await (await driver_connection(reading)).cursor(sql, *parameters)
        fetching: asyncio.Future[list[Any]] | None = asyncio.ensure_future(
            cursor.fetch(STREAM_PAGE)
        )

        async def audited(auditor: AsyncSession, page: ChangePage) -> None:
            await audit_page(auditor, caller, page)
            await auditor.commit()

        # Pages read and being audited, in order; page n on auditor n % STREAM_AUDITORS, which
        # is free again once page n - STREAM_AUDITORS has gone.
        pending: deque[tuple[ChangePage, asyncio.Future[None]]] = deque()
        turn = 0
        try:
            while True:
                while fetching is not None and len(pending) < STREAM_AUDITORS:
                    rows = await fetching
                    full = len(rows) == STREAM_PAGE
                    page = read.page([StoredEvent._make(row) for row in rows], full=full)
                    read = read.after(page)
                    fetching = asyncio.ensure_future(cursor.fetch(STREAM_PAGE)) if full else None
                    auditor = auditors[turn % STREAM_AUDITORS]
                    pending.append((page, asyncio.ensure_future(audited(auditor, page))))
                    turn += 1
                if not pending:
                    return
                page, auditing = pending.popleft()
                await auditing  # committed before the page leaves
                yield page
        finally:
            for task in [fetching, *(auditing for _, auditing in pending)]:
                if task is not None:
                    task.cancel()


MAX_WAIT_SECONDS = 30


async def wait_for_changes(
    sessions: async_sessionmaker[AsyncSession],
    signal: ChangeSignal,
    caller: Caller,
    *,
    after: str | None,
    types: Iterable[str] = (),
    limit: int,
    wait_seconds: float,
) -> ChangePage:
    """``read_changes``, but an empty page waits up to ``wait_seconds`` for a change to be
    committed and reads again. Each read takes a short transaction of its own, so no pooled
    connection is held while waiting."""
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise ValidationFailed(
            errors=[FieldError("wait", "out_of_range", f"wait is 0 to {MAX_WAIT_SECONDS}.")]
        )
    if wait_seconds == 0:
        async with sessions() as session, session.begin():
            return await read_changes(session, caller, after=after, types=types, limit=limit)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    # While an older transaction holds the feed back, a change behind it may already be
    # committed and notified, and the holder may end without writing an event, so without a
    # notification of its own: then re-read on a short interval, growing to a second, as well
    # as on the next notification. With nothing held back, only a notification wakes us.
    recheck: float | None = None
    while True:
        async with signal.armed() as arrived:
            async with sessions() as session, session.begin():
                page = await read_changes(session, caller, after=after, types=types, limit=limit)
            remaining = deadline - loop.time()
            if page.items or remaining <= 0:
                return page
            if page.held_back_seconds > 0:
                recheck = RECHECK_FIRST_SECONDS if recheck is None else recheck * 2
                recheck = min(recheck, RECHECK_MAX_SECONDS)
            else:
                recheck = None
            woken = await wait_for(
                arrived, remaining if recheck is None else min(remaining, recheck)
            )
            if not woken and recheck is None:
                deadline = 0.0  # the time is up: one last read


# A follower reads the feed in pages of up to this many events.
FOLLOW_PAGE = 500


async def follow_changes(
    sessions: async_sessionmaker[AsyncSession],
    signal: ChangeSignal,
    caller: Caller,
    *,
    after: str | None,
    types: Iterable[str] = (),
) -> AsyncIterator[ChangePage]:
    """Every change after ``after``, for as long as the caller keeps reading: the pages of
    ``wait_for_changes`` one after another, each read (and its ``pii:read`` audit committed)
    in a short transaction of its own, waiting between them on the change notifications, as
    the long poll does. Empty pages are not handed on. A bad argument or a pruned cursor fails
    at the first read."""
    wanted = list(types)
    while True:
        page = await wait_for_changes(
            sessions,
            signal,
            caller,
            after=after,
            types=wanted,
            limit=FOLLOW_PAGE,
            wait_seconds=MAX_WAIT_SECONDS,
        )
        after = page.next_cursor
        if page.items:
            yield page
