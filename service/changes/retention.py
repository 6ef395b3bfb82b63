"""How long change events are kept, and what a reader is told when its cursor is older.

Pruning removes the oldest events in feed order, ``(txid, id)``, up to the first event that is
still young enough (or still held back by a running transaction), and records the position of
the last event removed: the horizon. A cursor before the horizon missed events it can no longer
get; a cursor at or after it misses nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.changes.tables import ChangeEvent, ChangeFeedHorizon
from service.errors import Gone

if TYPE_CHECKING:
    from service.changes.feed import FeedPosition

_SNAPSHOT_XMIN = text("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")

RESTART_ADVICE = (
    "Events after this cursor were pruned (they are kept a limited number of days). Start "
    "again: read the records with GET /api/v1/kpm/export?updated_since=... (and the other "
    "lists), then follow GET /api/v1/changes without a cursor."
)


async def ensure_retained(session: AsyncSession, position: FeedPosition) -> None:
    """A cursor older than what was pruned answers 410, saying how to start again."""
    horizon = await session.get(ChangeFeedHorizon, 1)
    if horizon is not None and (position.txid, position.event_id) < (
        horizon.txid,
        horizon.event_id,
    ):
        raise Gone(RESTART_ADVICE, code="cursor_expired")


async def prune_changes(session: AsyncSession, *, retention_days: int) -> int:
    """Remove the events older than ``retention_days``; returns how many went. Flushes only:
    run it in a transaction of its own (``dinsos prune-changes``, daily)."""
    txid, event_id = col(ChangeEvent.txid), col(ChangeEvent.id)
    cutoff = func.now() - timedelta(days=retention_days)
    kept_from = (
        select(txid, event_id)
        .where(or_(col(ChangeEvent.occurred_at) >= cutoff, txid >= _SNAPSHOT_XMIN))
        .order_by(txid, event_id)
        .limit(1)
    )
    first_kept = (await session.execute(kept_from)).one_or_none()
    doomed = select(txid, event_id).where(txid < _SNAPSHOT_XMIN)
    if first_kept is not None:
        doomed = doomed.where(tuple_(txid, event_id) < tuple_(first_kept.txid, first_kept.id))
    last = (
        await session.execute(doomed.order_by(txid.desc(), event_id.desc()).limit(1))
    ).one_or_none()
    if last is None:
        return 0
    removed = await session.execute(
        delete(ChangeEvent).where(tuple_(txid, event_id) <= tuple_(last.txid, last.id))
    )
    horizon = insert(ChangeFeedHorizon).values(id=1, txid=last.txid, event_id=last.id)
    await session.execute(
        horizon.on_conflict_do_update(
            index_elements=["id"],
            set_={"txid": last.txid, "event_id": last.id, "pruned_at": func.now()},
            # Two prunes at once: the horizon only moves forward.
            where=tuple_(col(ChangeFeedHorizon.txid), col(ChangeFeedHorizon.event_id))
            < tuple_(last.txid, last.id),
        )
    )
    return int(removed.rowcount or 0)  # type: ignore[attr-defined]
