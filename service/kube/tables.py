from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Text,
    func,
    text,
)
from sqlmodel import Field, SQLModel

from service.records import RecordColumns, utcnow

# Grants in these statuses are still running; a group has at most one at a time.
OPEN_GRANT_STATUSES = ("proposed", "recommended", "approved", "disbursed", "reporting")


class KubeGroup(RecordColumns, table=True):
    """A KUBE: 5-10 families (the program's group size) running a business together. Its
    members are part of it: a member change is a change to the group (new version, one change
    event), as with a family and its members."""

    __tablename__ = "kube_group"
    __table_args__ = (
        Index(
            "ix_kube_group_village_code",
            "village_code",
            postgresql_ops={"village_code": "text_pattern_ops"},
        ),
        Index("ix_kube_group_updated_at_id", "updated_at", "id"),
        Index(
            "ix_kube_group_name_trgm",
            func.lower(text("name")).label("lower_name"),
            postgresql_using="gin",
            postgresql_ops={"lower_name": "gin_trgm_ops"},
        ),
        CheckConstraint("status IN ('forming', 'active', 'inactive', 'dissolved')", name="status"),
    )

    name: str = Field(max_length=120)
    village_code: str = Field(max_length=13)
    program_code: str = Field(max_length=20, foreign_key="program.code")
    business_category: str = Field(max_length=20)
    facilitator_id: uuid.UUID | None = Field(default=None, foreign_key="facilitator.id", index=True)
    status: str = Field(default="forming", max_length=20, index=True)


class KubeMember(SQLModel, table=True):
    """A family in a group. ``group_active`` mirrors "the group is active", so that one partial
    unique index can say: a family belongs to at most one active KUBE, even when two offices
    activate groups sharing a family at the same moment."""

    __tablename__ = "kube_member"
    __table_args__ = (
        Index("uq_kube_member_group_family", "group_id", "family_id", unique=True),
        Index(
            "uq_kube_member_family_active",
            "family_id",
            unique=True,
            postgresql_where=text("group_active"),
        ),
        # Ketua, sekretaris and bendahara are single seats in a group.
        Index(
            "uq_kube_member_group_officer",
            "group_id",
            "role",
            unique=True,
            postgresql_where=text("role <> 'anggota'"),
        ),
        CheckConstraint("role IN ('ketua', 'sekretaris', 'bendahara', 'anggota')", name="role"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    group_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("kube_group.id", ondelete="CASCADE"), nullable=False)
    )
    family_id: uuid.UUID = Field(foreign_key="kpm_family.id", index=True)
    role: str = Field(max_length=12)
    group_active: bool = False
    joined_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )


class KubeGrant(RecordColumns, table=True):
    """A capital grant to a group, moving through proposal, provincial recommendation,
    approval, payment and business reports; every move is kept in ``kube_grant_transition``."""

    __tablename__ = "kube_grant"
    __table_args__ = (
        Index(
            "ix_kube_grant_village_code",
            "village_code",
            postgresql_ops={"village_code": "text_pattern_ops"},
        ),
        Index("ix_kube_grant_updated_at_id", "updated_at", "id"),
        Index(
            "uq_kube_grant_group_open",
            "group_id",
            unique=True,
            postgresql_where=text(
                "status IN ('proposed', 'recommended', 'approved', 'disbursed', 'reporting')"
            ),
        ),
        CheckConstraint("amount > 0", name="amount"),
    )

    group_id: uuid.UUID = Field(foreign_key="kube_group.id", index=True)
    # The group's village, copied: it decides who sees the grant without a join, and cannot go
    # stale because a group only moves while forming, and grants are only for active groups.
    village_code: str = Field(max_length=13)
    # The budget the grant is paid from (optional while proposed).
    allocation_id: uuid.UUID | None = Field(
        default=None, foreign_key="budget_allocation.id", index=True
    )
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    purpose: str | None = Field(default=None, max_length=300)
    status: str = Field(default="proposed", max_length=20, index=True)


class KubeGrantTransition(SQLModel, table=True):
    """One status change of a grant: who (client id and name, kept even if the client goes) and
    when, with the note they gave."""

    __tablename__ = "kube_grant_transition"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    grant_id: uuid.UUID = Field(foreign_key="kube_grant.id", index=True)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    note: str | None = Field(default=None, max_length=500)
    at: dt.datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    by_client: uuid.UUID | None = None
    by_name: str = Field(max_length=120)


class KubeGrantReport(SQLModel, table=True):
    """A business progress report of a group that received its grant."""

    __tablename__ = "kube_grant_report"
    __table_args__ = (
        CheckConstraint("revenue >= 0", name="revenue"),
        CheckConstraint("active_members >= 0", name="active_members"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    grant_id: uuid.UUID = Field(foreign_key="kube_grant.id", index=True)
    report_date: dt.date
    revenue: int = Field(sa_column=Column(BigInteger, nullable=False))
    active_members: int
    notes: str | None = Field(default=None, sa_type=Text)
    recorded_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    recorded_by: uuid.UUID | None = None
