"""Resolvers of the reports: the same service functions and wire rows as REST's JSON. Each
argument has REST's bounds (schemas/filters.py); `region` narrows the report inside your own."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.report_types import (
    AllocationRealisation,
    BudgetRealisationReport,
    CohortCompletion,
    FacilitatorGraduations,
    FunnelStep,
    GraduationsReport,
    KubeReport,
    KubeStatusCount,
    TrainingCompletionReport,
    VerificationFunnelReport,
)
from schemas.filters import ReportArguments
from schemas.reports import (
    AllocationRealisationOut,
    CohortCompletionOut,
    FacilitatorGraduationsOut,
    FunnelStepOut,
    KubeStatusCountOut,
)
from service.reports import budget, graduations, kube, training, verification
from service.reports.envelope import Report

GqlInfo = Info[GraphQLContext, None]
Row = TypeVar("Row")


def _rows(report: Report[Any], wire: type[BaseModel], row_type: type[Row]) -> list[Row]:
    """Through REST's row model, so both doors give the same figures."""
    return [row_type(**wire.model_validate(row).model_dump()) for row in report.rows]


async def verification_funnel_report(
    info: GqlInfo, region: str | None = None, program: str | None = None
) -> VerificationFunnelReport:
    ReportArguments.model_validate({"region": region, "program": program})
    report = await verification.verification_funnel(
        info.context.session, info.context.caller, region=region, program=program
    )
    return VerificationFunnelReport(
        region_code=report.region_code,
        generated_at=report.generated_at,
        rows=_rows(report, FunnelStepOut, FunnelStep),
    )


async def graduations_report(
    info: GqlInfo, region: str | None = None, year: int | None = None
) -> GraduationsReport:
    ReportArguments.model_validate({"region": region, "year": year})
    report = await graduations.graduations_per_facilitator(
        info.context.session, info.context.caller, region=region, year=year
    )
    return GraduationsReport(
        region_code=report.region_code,
        generated_at=report.generated_at,
        rows=_rows(report, FacilitatorGraduationsOut, FacilitatorGraduations),
    )


async def training_completion_report(
    info: GqlInfo, region: str | None = None, program: str | None = None
) -> TrainingCompletionReport:
    ReportArguments.model_validate({"region": region, "program": program})
    report = await training.training_completion(
        info.context.session, info.context.caller, region=region, program=program
    )
    return TrainingCompletionReport(
        region_code=report.region_code,
        generated_at=report.generated_at,
        rows=_rows(report, CohortCompletionOut, CohortCompletion),
    )


async def kube_report(
    info: GqlInfo, region: str | None = None, program: str | None = None
) -> KubeReport:
    ReportArguments.model_validate({"region": region, "program": program})
    report = await kube.kube_by_status(
        info.context.session, info.context.caller, region=region, program=program
    )
    return KubeReport(
        region_code=report.region_code,
        generated_at=report.generated_at,
        rows=_rows(report, KubeStatusCountOut, KubeStatusCount),
    )


async def budget_realisation_report(
    info: GqlInfo,
    region: str | None = None,
    program: str | None = None,
    fiscal_year: int | None = None,
) -> BudgetRealisationReport:
    ReportArguments.model_validate(
        {"region": region, "program": program, "fiscal_year": fiscal_year}
    )
    report = await budget.budget_realisation(
        info.context.session,
        info.context.caller,
        region=region,
        program=program,
        fiscal_year=fiscal_year,
    )
    return BudgetRealisationReport(
        region_code=report.region_code,
        generated_at=report.generated_at,
        rows=_rows(report, AllocationRealisationOut, AllocationRealisation),
    )
