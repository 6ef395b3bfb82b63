from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, Text, func, text
from sqlmodel import Field, SQLModel

from service.records import RecordColumns, utcnow


class TrainingCohort(RecordColumns, table=True):
    """A training run for beneficiaries (sewing, catering, livestock, ...) at a venue, with its
    sessions and a capacity. Its sessions are part of it (a new session is a new version)."""

    __tablename__ = "training_cohort"
    __table_args__ = (
        Index(
            "ix_training_cohort_region_code",
            "region_code",
            postgresql_ops={"region_code": "text_pattern_ops"},
        ),
        Index("ix_training_cohort_updated_at_id", "updated_at", "id"),
        Index(
            "ix_training_cohort_name_trgm",
            func.lower(text("name")).label("lower_name"),
            postgresql_using="gin",
            postgresql_ops={"lower_name": "gin_trgm_ops"},
        ),
        CheckConstraint("capacity > 0", name="capacity"),
        CheckConstraint("completion_threshold BETWEEN 1 AND 100", name="completion_threshold"),
        CheckConstraint(
            "status IN ('planned', 'running', 'completed', 'cancelled')", name="status"
        ),
    )

    name: str = Field(max_length=200)
    program_code: str = Field(max_length=20, foreign_key="program.code")
    topic: str = Field(max_length=20)
    region_code: str = Field(max_length=13, description="Where it is held.")
    venue: str | None = Field(default=None, max_length=300)
    capacity: int
    facilitator_id: uuid.UUID | None = Field(default=None, foreign_key="facilitator.id", index=True)
    trainer_name: str | None = Field(default=None, max_length=120)
    status: str = Field(default="planned", max_length=20, index=True)
    completion_threshold: int = Field(default=75, sa_column_kwargs={"server_default": "75"})


class TrainingSession(SQLModel, table=True):
    """One day of a cohort. At most one session a day: attendance is taken per day."""

    __tablename__ = "training_session"
    __table_args__ = (Index("uq_training_session_cohort_day", "cohort_id", "held_on", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    cohort_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("training_cohort.id", ondelete="CASCADE"), nullable=False)
    )
    held_on: dt.date
    title: str | None = Field(default=None, max_length=200)


class TrainingParticipant(RecordColumns, table=True):
    """A person (a member of a KPM family) in a cohort, with the pre-training assessment and the
    follow-up outcome. A person who later leaves the family card keeps their training record:
    ``member_id`` becomes null, the family and the name stay."""

    __tablename__ = "training_participant"
    __table_args__ = (
        Index("uq_training_participant_cohort_member", "cohort_id", "member_id", unique=True),
    )

    cohort_id: uuid.UUID = Field(foreign_key="training_cohort.id", index=True)
    member_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey("kpm_member.id", ondelete="SET NULL"), nullable=True),
    )
    family_id: uuid.UUID = Field(foreign_key="kpm_family.id", index=True)
    name: str = Field(max_length=120)
    needs: str | None = Field(default=None, sa_type=Text)
    business_potential: str | None = Field(default=None, sa_type=Text)
    assessment_notes: str | None = Field(default=None, sa_type=Text)
    started_business: bool | None = None
    business_kind: str | None = Field(default=None, max_length=120)


class TrainingAttendance(SQLModel, table=True):
    """Whether a participant was at a session; recorded again, it is replaced."""

    __tablename__ = "training_attendance"

    participant_id: uuid.UUID = Field(
        sa_column=Column(
            ForeignKey("training_participant.id", ondelete="CASCADE"), primary_key=True
        )
    )
    session_id: uuid.UUID = Field(
        sa_column=Column(
            ForeignKey("training_session.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    present: bool
    recorded_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    recorded_by: uuid.UUID | None = None
