"""GraphQL types of the reports: the same envelope (region covered, when) and the same rows as
REST's JSON, built through the same wire models (schemas/reports.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry

from api.graphql.scalars import Rupiah


@strawberry.type(
    description="A step of the funnel: `listed` (all live families), `unverified`, then one "
    "per verification outcome (eligible, ineligible, not_found, moved, deceased)."
)
class FunnelStep:
    step: str
    families: int
    people: int


@strawberry.type
class VerificationFunnelReport:
    region_code: str | None = strawberry.field(description="`null`: the whole country.")
    generated_at: dt.datetime
    rows: list[FunnelStep]


@strawberry.type
class FacilitatorGraduations:
    facilitator_id: uuid.UUID
    name: str
    kind: str
    region_code: str
    yearly_target: int | None
    graduated: int = strawberry.field(description="Graduations credited in the year.")
    mandiri: int
    alamiah: int
    verval: int
    target_reached_pct: float | None = strawberry.field(description="`null` without a target.")


@strawberry.type
class GraduationsReport:
    region_code: str | None = strawberry.field(description="`null`: the whole country.")
    generated_at: dt.datetime
    rows: list[FacilitatorGraduations]


@strawberry.type
class CohortCompletion:
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
    completed: int = strawberry.field(description="Attended the cohort's threshold of sessions.")
    completion_pct: float | None = strawberry.field(description="`null` while nobody enrolled.")
    started_business: int


@strawberry.type
class TrainingCompletionReport:
    region_code: str | None = strawberry.field(description="`null`: the whole country.")
    generated_at: dt.datetime
    rows: list[CohortCompletion]


@strawberry.type
class KubeStatusCount:
    record: str = strawberry.field(description="`group` or `grant`.")
    status: str
    count: int
    amount: Rupiah = strawberry.field(description="Sum of the grants' amounts; 0 for groups.")


@strawberry.type
class KubeReport:
    region_code: str | None = strawberry.field(description="`null`: the whole country.")
    generated_at: dt.datetime
    rows: list[KubeStatusCount]


@strawberry.type
class AllocationRealisation:
    allocation_id: uuid.UUID
    program_code: str
    fiscal_year: int
    funding_source: str
    region_code: str
    amount: Rupiah
    committed: Rupiah = strawberry.field(description="In payments not failed or reversed.")
    confirmed: Rupiah = strawberry.field(description="Confirmed paid (realisasi).")
    remaining: Rupiah = strawberry.field(description="`amount - committed`.")
    absorption_pct: float | None = strawberry.field(description="`confirmed / amount`, in %.")
    payments_confirmed: int


@strawberry.type
class BudgetRealisationReport:
    region_code: str | None = strawberry.field(description="`null`: the whole country.")
    generated_at: dt.datetime
    rows: list[AllocationRealisation]
