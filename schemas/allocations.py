"""Wire shapes of budget allocations. Money is a whole number of rupiah: amounts are JSON
integers, and a number with a fraction or in quotes is refused."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import WHOLE_NUMBER_ONLY, Integer, RecordOut

# Rp1,000 trillion: far above any program budget, and far below where the sums of BIGINT
# rupiah or JavaScript's 2**53 integers would lose exactness.
MAX_AMOUNT = 10**15


class FundingSource(StrEnum):
    APBN = "APBN"  # national budget
    APBD_PROVINSI = "APBD_PROVINSI"  # provincial budget (APBD I)
    APBD_KABKOTA = "APBD_KABKOTA"  # regency or city budget (APBD II)
    LAINNYA = "LAINNYA"  # other


_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AllocationCreate(BaseModel):
    model_config = _STRICT

    program_code: str = Field(max_length=20, examples=["PK3E"])
    fiscal_year: Integer = Field(ge=2000, le=2100, examples=[2026])
    funding_source: FundingSource
    region_code: str = Field(
        max_length=16,
        description="The province or regency the budget is for, dotted or not.",
        examples=["33.28"],
    )
    amount: int = Field(
        strict=True,
        ge=1,
        le=MAX_AMOUNT,
        examples=[1_600_000_000],
        json_schema_extra=WHOLE_NUMBER_ONLY,
    )


class AllocationUpdate(BaseModel):
    """Only the fields sent are changed. Program and region are fixed once created, because
    the allocation's disbursements depend on them."""

    model_config = _STRICT

    amount: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_AMOUNT,
        json_schema_extra=WHOLE_NUMBER_ONLY,
        description="Cannot go below `committed` (409 `amount_below_committed`).",
    )
    fiscal_year: Integer | None = Field(default=None, ge=2000, le=2100)
    funding_source: FundingSource | None = None


class AllocationOut(RecordOut):
    program_code: str
    fiscal_year: int
    funding_source: FundingSource
    region_code: str
    amount: int = Field(description="The budget, in whole rupiah.")
    committed: int = Field(
        description="Money in this allocation's disbursements that did not fail and were not "
        "reversed (scheduled, sent or confirmed)."
    )
    confirmed: int = Field(description="The part of `committed` confirmed as paid (realisasi).")
    remaining: int = Field(description="`amount - committed`: what new disbursements may use.")
