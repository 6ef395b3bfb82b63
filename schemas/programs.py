from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Boolean, Integer, RecordOut


class ProgramLevel(StrEnum):
    national = "national"
    provincial = "provincial"
    district = "district"


class BenefitKind(StrEnum):
    cash = "cash"
    in_kind = "in_kind"
    capital = "capital"
    training = "training"


class ProgramFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=200)
    level: ProgramLevel
    benefit_kind: BenefitKind
    region_code: str | None = Field(
        default=None,
        description="Owning region: empty for a national program, the province for a provincial "
        "one, the regency for a district one. Dotted or undotted.",
        examples=["33.28"],
    )
    group_size_min: Integer | None = Field(default=None, ge=1, le=1000)
    group_size_max: Integer | None = Field(default=None, ge=1, le=1000)
    active: Boolean = True


class ProgramCreate(ProgramFields):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,19}$", examples=["PKH_PLUS"])


class ProgramUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=2, max_length=200)
    level: ProgramLevel | None = None
    benefit_kind: BenefitKind | None = None
    region_code: str | None = None
    group_size_min: Integer | None = Field(default=None, ge=1, le=1000)
    group_size_max: Integer | None = Field(default=None, ge=1, le=1000)
    active: Boolean | None = None


class ProgramOut(RecordOut):
    code: str
    name: str
    level: ProgramLevel
    benefit_kind: BenefitKind
    region_code: str | None
    group_size_min: int | None
    group_size_max: int | None
    active: bool
