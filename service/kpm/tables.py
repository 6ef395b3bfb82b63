from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from service.records import RecordColumns, utcnow


class Family(RecordColumns, table=True):
    """A beneficiary family (KPM). Its members are part of it: a change to a member is a change
    to the family (new version, one change event). Archiving takes it out of lists and frees its
    No KK and NIKs for another family; it stays readable by id."""

    __tablename__ = "kpm_family"
    __table_args__ = (
        # No KK is unique among live families only: an archived card may be registered again.
        Index(
            "uq_kpm_family_no_kk_live",
            "no_kk",
            unique=True,
            postgresql_where=text("archived_at IS NULL"),
        ),
        Index(
            "ix_kpm_family_village_code",
            "village_code",
            postgresql_ops={"village_code": "text_pattern_ops"},
        ),
        Index("ix_kpm_family_updated_at_id", "updated_at", "id"),
        CheckConstraint("desil IS NULL OR desil BETWEEN 1 AND 10", name="desil"),
    )

    no_kk: str = Field(max_length=16)
    village_code: str = Field(max_length=13)
    address: str | None = Field(default=None, max_length=300)
    desil: int | None = None
    dtsen_id: str | None = Field(default=None, max_length=40)
    facilitator_id: uuid.UUID | None = Field(default=None, foreign_key="facilitator.id", index=True)
    # The outcome of the latest verification visit (verval), kept here for filtering.
    verification_status: str | None = Field(default=None, max_length=20, index=True)
    archived_at: dt.datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
    )
    archive_reason: str | None = Field(default=None, max_length=300)


class Member(SQLModel, table=True):
    """A person in a family. ``live`` mirrors "the family is not archived", so that one partial
    unique index can say: a NIK belongs to at most one live family in the whole country."""

    __tablename__ = "kpm_member"
    __table_args__ = (
        Index("uq_kpm_member_nik_live", "nik", unique=True, postgresql_where=text("live")),
        Index(
            "ix_kpm_member_name_trgm",
            func.lower(text("name")).label("lower_name"),
            postgresql_using="gin",
            postgresql_ops={"lower_name": "gin_trgm_ops"},
        ),
        CheckConstraint("sex IN ('L', 'P')", name="sex"),
    )

    id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        primary_key=True,
        sa_column_kwargs={"server_default": text("gen_random_uuid()")},
    )
    family_id: uuid.UUID = Field(
        sa_column=Column(
            ForeignKey("kpm_family.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    nik: str = Field(max_length=16)
    name: str = Field(max_length=120)
    sex: str = Field(max_length=1)
    birth_date: dt.date
    relationship: str = Field(max_length=20)
    nik_mismatch: bool = False
    live: bool = True
    position: int = Field(default=0, description="Order of the member in the family card.")


class Facilitator(RecordColumns, table=True):
    """A field facilitator (pendamping): PKH facilitator, TKSK, KUBE facilitator, other."""

    __tablename__ = "facilitator"
    __table_args__ = (
        Index(
            "ix_facilitator_region_code",
            "region_code",
            postgresql_ops={"region_code": "text_pattern_ops"},
        ),
    )

    name: str = Field(max_length=120)
    kind: str = Field(max_length=10)
    region_code: str = Field(max_length=13, description="Area of work.")
    active: bool = True
    yearly_target: int | None = Field(default=None, description="Graduations aimed for a year.")


class Verification(SQLModel, table=True):
    """One field visit (verval). History is kept; the family shows the latest outcome."""

    __tablename__ = "kpm_verification"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    family_id: uuid.UUID = Field(foreign_key="kpm_family.id", index=True)
    visited_on: dt.date
    outcome: str = Field(max_length=20)
    facilitator_id: uuid.UUID | None = Field(default=None, foreign_key="facilitator.id")
    notes: str | None = Field(default=None, sa_type=Text)
    recorded_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    recorded_by: uuid.UUID | None = None


class Enrollment(RecordColumns, table=True):
    """A family in a program, with its status; every status change is kept in
    ``kpm_enrollment_transition``."""

    __tablename__ = "kpm_enrollment"
    __table_args__ = (
        Index("uq_kpm_enrollment_family_program", "family_id", "program_code", unique=True),
    )

    family_id: uuid.UUID = Field(foreign_key="kpm_family.id", index=True)
    program_code: str = Field(max_length=20, foreign_key="program.code")
    status: str = Field(max_length=20, index=True)
    started_on: dt.date | None = None
    ended_on: dt.date | None = None
    graduation_kind: str | None = Field(default=None, max_length=10)
    credited_facilitator_id: uuid.UUID | None = Field(default=None, foreign_key="facilitator.id")


class EnrollmentTransition(SQLModel, table=True):
    __tablename__ = "kpm_enrollment_transition"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    enrollment_id: uuid.UUID = Field(foreign_key="kpm_enrollment.id", index=True)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    on_date: dt.date
    reason: str | None = Field(default=None, max_length=300)
    at: dt.datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now()},
    )
    by_client: uuid.UUID | None = None


class ImportJob(SQLModel, table=True):
    """A bulk import of families: progress while it runs, counts and refusals when done."""

    __tablename__ = "kpm_import_job"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID | None = None
    actor: str = Field(max_length=120)
    region_code: str | None = Field(default=None, max_length=13)
    format: str = Field(max_length=10)
    # ``uploading`` while the upload is stored (seen by nobody), then ``queued``, ``running``,
    # ``done`` or ``failed``.
    status: str = Field(default="queued", max_length=10, index=True)
    bytes_total: int = 0
    bytes_read: int = 0
    rows_read: int = 0
    families_read: int = 0
    families_created: int = 0
    families_updated: int = 0
    families_unchanged: int = 0
    families_refused: int = 0
    people_imported: int = 0
    error: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
    )
    finished_at: dt.datetime | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
    )
    # The caller as it was at the upload: any process that resumes the job acts for it, with
    # the same scopes and request id in the journal as the process that started it.
    scopes: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Text), nullable=False, server_default="{}"),
    )
    request_id: str | None = Field(default=None, max_length=120)
    by_operator: bool = False


class ImportRefusal(SQLModel, table=True):
    """One reason a family of an import was refused, with the file lines of all its rows."""

    __tablename__ = "kpm_import_refusal"
    __table_args__ = (Index("ix_kpm_import_refusal_job_line", "job_id", "line"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    job_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("kpm_import_job.id", ondelete="CASCADE"), nullable=False)
    )
    line: int
    lines: list[int] = Field(sa_column=Column(ARRAY(Integer), nullable=False))
    no_kk: str = Field(max_length=40)
    nik: str | None = Field(default=None, max_length=40)
    field: str = Field(max_length=40)
    code: str = Field(max_length=40)
    message: str = Field(max_length=300)


class ImportChunk(SQLModel, table=True):
    """A piece of an import's file, in order, kept in the database so that any process can run
    or resume the job. Removed with the job's last batch."""

    __tablename__ = "kpm_import_chunk"

    job_id: uuid.UUID = Field(
        sa_column=Column(
            ForeignKey("kpm_import_job.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    position: int = Field(sa_column=Column(Integer, primary_key=True, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Stored rows are written with core inserts; the database stamps them.
    created_at: dt.datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
