from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Column, Field, SQLModel, String

from service.records import utcnow


class ChangeEvent(SQLModel, table=True):
    """One row per write to a shared record, written in the writer's transaction.

    ``txid`` is the writing transaction's id (``pg_current_xact_id()``). A feed reader only
    hands out events of transactions older than the oldest one still running
    (``pg_snapshot_xmin(pg_current_snapshot())``), so an event whose transaction began earlier
    but committed later can never be skipped by a reader that already moved past its ``id``.
    """

    __tablename__ = "change_event"
    __table_args__ = (
        Index("ix_change_event_txid_id", "txid", "id"),
        Index(
            "ix_change_event_region_code",
            "region_code",
            postgresql_ops={"region_code": "text_pattern_ops"},
        ),
        Index(
            "ix_change_event_previous_region_code",
            "previous_region_code",
            postgresql_ops={"previous_region_code": "text_pattern_ops"},
            postgresql_where=text("previous_region_code IS NOT NULL"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    txid: int | None = Field(
        default=None,
        sa_column=Column(
            "txid",
            # xid8 has no SQLAlchemy type; stored and compared as a 64-bit integer.
            BigInteger,
            nullable=False,
            server_default=text("(pg_current_xact_id()::text)::bigint"),
        ),
    )
    occurred_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    entity: str = Field(max_length=40)
    record_id: str = Field(max_length=64)
    action: str = Field(max_length=20)
    region_code: str | None = Field(default=None, max_length=13)
    version: int | None = None
    changed_fields: list[str] | None = Field(default=None, sa_column=Column(ARRAY(String)))
    client_id: uuid.UUID | None = None
    # The record as a REST read shows it after this change, unmasked (the feed masks it per
    # reader); None for a record that no longer exists.
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    # Set when the change moved the record out of this region into ``region_code``.
    previous_region_code: str | None = Field(default=None, max_length=13)


class ChangeFeedHorizon(SQLModel, table=True):
    """The feed position up to which events were pruned (one row, once anything was pruned).

    A reader whose cursor lies before it has missed events it can no longer get, and must
    start again from an export; a cursor at or after it misses nothing."""

    __tablename__ = "change_feed_horizon"

    id: int = Field(default=1, primary_key=True)
    txid: int = Field(sa_type=BigInteger)
    event_id: int = Field(sa_type=BigInteger)
    pruned_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
