from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Identity, Index, func, text
from sqlmodel import Field, SQLModel

from service.records import RecordColumns, utcnow

# The statuses whose money is still committed against the allocation.
OPEN_STATUSES = ("scheduled", "sent", "confirmed")


class Disbursement(RecordColumns, table=True):
    """A payment out of an allocation to a family (``kpm``) or a KUBE group (``kube``).

    ``region_code`` is the recipient's village, copied at creation: it decides who sees the
    payment, as a family's village decides who sees the family. ``program_code`` is the
    allocation's, copied so that one partial unique index can say: a recipient gets a program's
    benefit at most once per period, among payments that did not fail and were not reversed.
    """

    __tablename__ = "disbursement"
    __table_args__ = (
        Index(
            "uq_disbursement_once_per_period",
            "recipient_id",
            "recipient_kind",
            "program_code",
            "period",
            unique=True,
            postgresql_where=text("period IS NOT NULL AND status NOT IN ('failed', 'reversed')"),
        ),
        Index("uq_disbursement_external_reference", "external_reference", unique=True),
        Index(
            "ix_disbursement_region_code",
            "region_code",
            postgresql_ops={"region_code": "text_pattern_ops"},
        ),
        Index("ix_disbursement_updated_at_id", "updated_at", "id"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(
            "status IN ('scheduled', 'sent', 'confirmed', 'failed', 'reversed')", name="status"
        ),
        CheckConstraint("recipient_kind IN ('kpm', 'kube')", name="recipient_kind"),
        CheckConstraint("channel IN ('bank_transfer', 'pos', 'kks', 'cash')", name="channel"),
        CheckConstraint(
            "period ~ '^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$'",
            name="period",
        ),
    )

    allocation_id: uuid.UUID = Field(foreign_key="budget_allocation.id", index=True)
    program_code: str = Field(max_length=20)
    recipient_kind: str = Field(max_length=4)
    recipient_id: uuid.UUID = Field(index=True)
    region_code: str = Field(max_length=13)
    amount: int = Field(sa_type=BigInteger)
    purpose: str = Field(max_length=200)
    channel: str = Field(max_length=20)
    period: str | None = Field(default=None, max_length=7)
    status: str = Field(default="scheduled", max_length=10)
    external_reference: str | None = Field(default=None, max_length=64)


class DisbursementTransition(SQLModel, table=True):
    """One status change of a disbursement, with who made it and when; the first row of each
    disbursement is its creation (``from_status`` empty)."""

    __tablename__ = "disbursement_transition"

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    disbursement_id: uuid.UUID = Field(foreign_key="disbursement.id", index=True)
    from_status: str | None = Field(default=None, max_length=10)
    to_status: str = Field(max_length=10)
    note: str | None = Field(default=None, max_length=500)
    external_reference: str | None = Field(default=None, max_length=64)
    # The date the bank or post office gave for a settlement (reconciliation files).
    on_date: dt.date | None = None
    at: dt.datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    by_client: uuid.UUID | None = None
    actor: str = Field(max_length=120)
    request_id: str | None = Field(default=None, max_length=64)
