"""Wire shapes of the KPM registry: families and members, verification, enrollment,
facilitators. Shapes only; the rules (NIK structure, one head of family, regions) are checked by
the service, the same way for the API and for bulk imports."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Boolean, Integer, IsoDate, RecordOut


class Relationship(StrEnum):
    """SHDK: relationship to the head of family."""

    KEPALA_KELUARGA = "KEPALA_KELUARGA"
    SUAMI = "SUAMI"
    ISTRI = "ISTRI"
    ANAK = "ANAK"
    MENANTU = "MENANTU"
    CUCU = "CUCU"
    ORANG_TUA = "ORANG_TUA"
    MERTUA = "MERTUA"
    FAMILI_LAIN = "FAMILI_LAIN"
    PEMBANTU = "PEMBANTU"
    LAINNYA = "LAINNYA"


class Sex(StrEnum):
    L = "L"
    P = "P"


class VerificationOutcome(StrEnum):
    eligible = "eligible"
    ineligible = "ineligible"
    not_found = "not_found"
    moved = "moved"
    deceased = "deceased"


class EnrollmentStatus(StrEnum):
    proposed = "proposed"
    active = "active"
    suspended = "suspended"
    graduated = "graduated"
    exited = "exited"


class GraduationKind(StrEnum):
    mandiri = "mandiri"  # self-reliant
    alamiah = "alamiah"  # no eligible member left
    verval = "verval"  # found ineligible in verification


class FacilitatorKind(StrEnum):
    PKH = "PKH"
    TKSK = "TKSK"
    KUBE = "KUBE"
    other = "other"


_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MemberIn(BaseModel):
    model_config = _STRICT

    nik: str = Field(max_length=32, examples=["3328024205900003"])
    name: str = Field(min_length=1, max_length=120)
    sex: Sex
    birth_date: IsoDate
    relationship: Relationship


class MemberUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = _STRICT

    nik: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, min_length=1, max_length=120)
    sex: Sex | None = None
    birth_date: IsoDate | None = None
    relationship: Relationship | None = None


class FamilyCreate(BaseModel):
    model_config = _STRICT

    no_kk: str = Field(max_length=32, examples=["3328021605230001"])
    village_code: str = Field(max_length=16, examples=["33.28.02.2001"])
    address: str | None = Field(default=None, max_length=300)
    desil: Integer | None = Field(default=None, description="Welfare decile 1-10.")
    dtsen_id: str | None = Field(default=None, max_length=40)
    facilitator_id: uuid.UUID | None = None
    members: list[MemberIn] = Field(min_length=1, max_length=40)
    programs: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Program codes the family is enrolled in (status `active`).",
    )


class FamilyUpdate(BaseModel):
    """Only the fields sent are changed. Members have their own endpoints."""

    model_config = _STRICT

    village_code: str | None = Field(default=None, max_length=16)
    address: str | None = Field(default=None, max_length=300)
    desil: Integer | None = None
    dtsen_id: str | None = Field(default=None, max_length=40)
    facilitator_id: uuid.UUID | None = None


class ArchiveRequest(BaseModel):
    model_config = _STRICT

    reason: str = Field(min_length=3, max_length=300, examples=["Pindah ke luar kabupaten"])


class MemberOut(BaseModel):
    id: uuid.UUID
    nik: str = Field(description="Masked (`332802**********`) without the `pii:read` scope.")
    name: str
    sex: Sex
    birth_date: dt.date
    relationship: Relationship
    nik_mismatch: bool = Field(
        description="The NIK's encoded birth date or sex disagrees with the member's data."
    )


class EnrollmentOut(RecordOut):
    family_id: uuid.UUID
    program_code: str
    status: EnrollmentStatus
    started_on: dt.date | None
    ended_on: dt.date | None
    graduation_kind: GraduationKind | None
    credited_facilitator_id: uuid.UUID | None


class FamilyOut(RecordOut):
    no_kk: str = Field(description="Masked without the `pii:read` scope.")
    village_code: str
    address: str | None
    desil: int | None
    dtsen_id: str | None
    facilitator_id: uuid.UUID | None
    verification_status: VerificationOutcome | None
    archived_at: dt.datetime | None
    archive_reason: str | None
    members: list[MemberOut]
    enrollments: list[EnrollmentOut]


class VerificationIn(BaseModel):
    model_config = _STRICT

    visited_on: IsoDate
    outcome: VerificationOutcome
    facilitator_id: uuid.UUID | None = None
    notes: str | None = Field(default=None, max_length=2000)


class VerificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    family_id: uuid.UUID
    visited_on: dt.date
    outcome: VerificationOutcome
    facilitator_id: uuid.UUID | None
    notes: str | None
    recorded_at: dt.datetime


class EnrollmentCreate(BaseModel):
    model_config = _STRICT

    program_code: str = Field(max_length=20)
    status: EnrollmentStatus = EnrollmentStatus.proposed
    started_on: IsoDate | None = None


class EnrollmentChange(BaseModel):
    """A status change. Graduating needs `graduation_kind`; the family's facilitator is credited
    unless another is named."""

    model_config = _STRICT

    status: EnrollmentStatus
    on_date: IsoDate | None = Field(default=None, description="Defaults to today.")
    reason: str | None = Field(default=None, max_length=300)
    graduation_kind: GraduationKind | None = None
    credited_facilitator_id: uuid.UUID | None = None


class EnrollmentTransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: EnrollmentStatus | None
    to_status: EnrollmentStatus
    on_date: dt.date
    reason: str | None
    at: dt.datetime


class FacilitatorCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=2, max_length=120)
    kind: FacilitatorKind
    region_code: str = Field(max_length=16, description="Area of work (any region level).")
    active: Boolean = True
    yearly_target: Integer | None = Field(default=None, ge=0, le=10000)


class FacilitatorUpdate(BaseModel):
    model_config = _STRICT

    name: str | None = Field(default=None, min_length=2, max_length=120)
    kind: FacilitatorKind | None = None
    region_code: str | None = Field(default=None, max_length=16)
    active: Boolean | None = None
    yearly_target: Integer | None = Field(default=None, ge=0, le=10000)


class FacilitatorOut(RecordOut):
    name: str
    kind: FacilitatorKind
    region_code: str
    active: bool
    yearly_target: int | None


class ImportJobOut(BaseModel):
    id: uuid.UUID
    status: str = Field(description="`queued`, `running`, `done` or `failed`.")
    format: str
    bytes_total: int
    bytes_read: int
    rows_read: int
    families_read: int
    families_created: int
    families_updated: int
    families_unchanged: int
    families_refused: int
    people_imported: int
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ImportRefusalOut(BaseModel):
    line: int
    lines: list[int] = Field(description="All the lines of the refused family.")
    no_kk: str
    nik: str | None
    field: str
    code: str
    message: str
