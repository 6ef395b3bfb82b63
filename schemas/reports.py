"""Reports: one envelope (the region covered, when, the rows); the same rows are the CSV lines."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Row = TypeVar("Row")


class ReportOut(BaseModel, Generic[Row]):
    region_code: str | None = Field(description="The region covered; `null`: the whole country.")
    generated_at: dt.datetime
    rows: list[Row]


class FunnelStepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    step: str = Field(
        description="`listed` (all live families), `unverified`, then one step per verification "
        "outcome: `eligible`, `ineligible`, `not_found`, `moved`, `deceased`."
    )
    families: int
    people: int


class FacilitatorGraduationsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    facilitator_id: uuid.UUID
    name: str
    kind: str
    region_code: str
    yearly_target: int | None
    graduated: int = Field(description="Graduations credited to the facilitator in the year.")
    mandiri: int
    alamiah: int
    verval: int
    target_reached_pct: float | None = Field(description="`null` when no target is set.")


class CohortCompletionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cohort_id: uuid.UUID
    name: str
    program_code: str
    topic: str
    region_code: str
    status: str
    first_session: dt.date | None
    sessions: int
    capacity: int
    participants: int
    completed: int = Field(description="Attended at least the cohort's threshold of sessions.")
    completion_pct: float | None = Field(description="`null` while nobody is enrolled.")
    started_business: int = Field(description="Participants whose follow-up says so.")


class KubeStatusCountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    record: str = Field(description="`group` or `grant`.")
    status: str
    count: int
    amount: int = Field(description="Sum of the grants' amounts in rupiah; 0 for groups.")


class AllocationRealisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    allocation_id: uuid.UUID
    program_code: str
    fiscal_year: int
    funding_source: str
    region_code: str
    amount: int = Field(description="Rupiah.")
    committed: int = Field(description="In payments not failed or reversed.")
    confirmed: int = Field(description="Confirmed paid by the bank or post office (realisasi).")
    remaining: int = Field(description="`amount - committed`: what can still be committed.")
    absorption_pct: float | None = Field(description="`confirmed / amount`, in percent.")
    payments_confirmed: int
