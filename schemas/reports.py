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
