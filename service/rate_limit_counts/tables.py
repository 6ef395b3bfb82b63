from __future__ import annotations

from sqlalchemy import Column, Double, Index
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel


class RateLimitCount(SQLModel, table=True):
    """One rate-limit key (a rate and who it counts: "token-address/192.0.2.1/30/1/minute")
    and what ``service.rate_limit_counts.storage`` keeps for it. Times are Unix seconds of the
    database's clock, the one clock every replica shares.

    - a fixed window: ``count`` hits since ``window_start``;
    - a sliding-window counter: ``count`` in the window that began at ``window_start`` and
      ``previous`` in the one before;
    - a moving window: ``hits``, the times of the latest hits, newest first, at most the rate.

    The table is UNLOGGED (migration 0015): a count lives seconds to an hour, so losing them
    all in a crash costs a caller's window at most, and skipping the write-ahead log keeps a
    count, written on every request, as cheap as a write can be. A row whose ``expires_at``
    has passed counts for nothing and is swept."""

    __tablename__ = "rate_limit_count"
    __table_args__ = (Index("ix_rate_limit_count_expires_at", "expires_at"),)

    key: str = Field(primary_key=True)
    window_start: float = Field(sa_type=Double)
    count: int = 0
    previous: int = 0
    hits: list[float] | None = Field(default=None, sa_column=Column(ARRAY(Double)))
    expires_at: float = Field(sa_type=Double)
