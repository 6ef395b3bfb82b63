from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class IdempotencyKey(SQLModel, table=True):
    """A client's ``Idempotency-Key`` and what became of the request that first used it.

    The row is claimed (``in_progress``) in a short transaction of its own before the work
    starts, so a concurrent retry sees it at once; the work's transaction locks it while it runs
    and stores the response (``done``) when it commits. ``claim_token`` tells one claim from the
    next, so a claim that was taken over can no longer complete. A single payment inserts its key
    ``done`` in the statement that pays (``service.disbursements.payment``)."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        Index("ix_idempotency_key_expires_at", "expires_at"),
        CheckConstraint("status IN ('in_progress', 'done')", name="status"),
    )

    client_id: uuid.UUID = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    status: str = Field(max_length=12)
    claim_token: uuid.UUID
    response_status: int | None = None
    response_body: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    claimed_at: datetime = Field(
        sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": func.now()}
    )
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
