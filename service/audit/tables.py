from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field, SQLModel

from service.records import utcnow


class AuditEntry(SQLModel, table=True):
    """Append-only: a trigger in the migration refuses UPDATE and DELETE on this table.

    One row per write and per read of unmasked personal data. ``changes`` maps each changed
    field to ``[old, new]`` with personal values masked.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_record", "entity", "record_id"),
        Index(
            "ix_audit_entry_region_code",
            "region_code",
            postgresql_ops={"region_code": "text_pattern_ops"},
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    occurred_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    client_id: uuid.UUID | None = Field(default=None, index=True)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=40)
    entity: str = Field(max_length=40)
    record_id: str = Field(max_length=64)
    region_code: str | None = Field(default=None, max_length=13)
    changes: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    request_id: str | None = Field(default=None, max_length=64)
