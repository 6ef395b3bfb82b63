"""Wire shapes of KUBE groups (kelompok usaha bersama) and their capital grants. Shapes only; the
rules (group size, one active KUBE per family, the grant's status machine, regions) live in
``service/kube``."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Integer, IsoDate, RecordOut


class KubeStatus(StrEnum):
    forming = "forming"
    active = "active"
    inactive = "inactive"
    dissolved = "dissolved"


class KubeRole(StrEnum):
    """Ketua (chair), sekretaris and bendahara (treasurer) are single seats; anggota is a member."""

    ketua = "ketua"
    sekretaris = "sekretaris"
    bendahara = "bendahara"
    anggota = "anggota"


class BusinessCategory(StrEnum):
    perdagangan = "perdagangan"  # trade: warung, e-Warung
    jasa = "jasa"  # services
    produksi = "produksi"  # home industry
    kuliner = "kuliner"
    pertanian = "pertanian"
    peternakan = "peternakan"
    perikanan = "perikanan"
    kerajinan = "kerajinan"
    lainnya = "lainnya"


class GrantStatus(StrEnum):
    proposed = "proposed"
    recommended = "recommended"
    approved = "approved"
    disbursed = "disbursed"
    reporting = "reporting"
    closed = "closed"
    rejected = "rejected"
    cancelled = "cancelled"


_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

# Whole rupiah; the ceiling only keeps a typo of extra zeros out (a KUBE grant is ~Rp20 million).
MAX_RUPIAH = 1_000_000_000_000


class KubeMemberIn(BaseModel):
    model_config = _STRICT

    family_id: uuid.UUID
    role: KubeRole = KubeRole.anggota


class KubeMemberRole(BaseModel):
    model_config = _STRICT

    role: KubeRole


class KubeGroupCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=2, max_length=120, examples=["KUBE Sekar Melati"])
    village_code: str = Field(max_length=16, examples=["33.28.02.2001"])
    program_code: str = Field(default="KUBE", max_length=20)
    business_category: BusinessCategory
    facilitator_id: uuid.UUID | None = None
    members: list[KubeMemberIn] = Field(
        default_factory=list,
        max_length=100,
        description="Founding members; more can be added later.",
    )


class KubeGroupUpdate(BaseModel):
    """Only the fields sent are changed. Members and status have their own endpoints."""

    model_config = _STRICT

    name: str | None = Field(default=None, min_length=2, max_length=120)
    village_code: str | None = Field(
        default=None, max_length=16, description="Only while the group is `forming`."
    )
    business_category: BusinessCategory | None = None
    facilitator_id: uuid.UUID | None = None


class KubeMemberOut(BaseModel):
    family_id: uuid.UUID
    role: KubeRole
    joined_at: dt.datetime


class KubeGroupOut(RecordOut):
    name: str
    village_code: str
    program_code: str
    business_category: BusinessCategory
    facilitator_id: uuid.UUID | None
    status: KubeStatus
    members: list[KubeMemberOut]


class KubeTransitionIn(BaseModel):
    model_config = _STRICT

    to: KubeStatus
    note: str | None = Field(default=None, max_length=500)


class GrantCreate(BaseModel):
    model_config = _STRICT

    group_id: uuid.UUID
    amount: Integer = Field(gt=0, le=MAX_RUPIAH, description="Whole rupiah.", examples=[20_000_000])
    allocation_id: uuid.UUID | None = Field(
        default=None, description="The budget allocation the grant is paid from, when known."
    )
    purpose: str | None = Field(default=None, max_length=300, examples=["Modal usaha warung"])


class GrantUpdate(BaseModel):
    """Only the fields sent are changed; only before approval."""

    model_config = _STRICT

    amount: Integer | None = Field(default=None, gt=0, le=MAX_RUPIAH)
    allocation_id: uuid.UUID | None = None
    purpose: str | None = Field(default=None, max_length=300)


class GrantOut(RecordOut):
    group_id: uuid.UUID
    village_code: str = Field(description="The group's village.")
    allocation_id: uuid.UUID | None
    amount: int = Field(description="Whole rupiah.")
    purpose: str | None
    status: GrantStatus


class GrantTransitionIn(BaseModel):
    model_config = _STRICT

    to: GrantStatus
    note: str | None = Field(default=None, max_length=500)


class GrantTransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: GrantStatus | None
    to_status: GrantStatus
    note: str | None
    at: dt.datetime
    by_client: uuid.UUID | None
    by_name: str


class GrantReportIn(BaseModel):
    model_config = _STRICT

    report_date: IsoDate
    revenue: Integer = Field(
        ge=0, le=MAX_RUPIAH, description="Whole rupiah in the period reported."
    )
    active_members: Integer = Field(ge=0, le=1000)
    notes: str | None = Field(default=None, max_length=2000)


class GrantReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    grant_id: uuid.UUID
    report_date: dt.date
    revenue: int
    active_members: int
    notes: str | None
    recorded_at: dt.datetime
