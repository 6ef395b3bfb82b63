"""Reports, region-scoped, as JSON or CSV (`format=csv`) for the offices' spreadsheets."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import CallerDep, SessionDep
from api.problems import problem_responses
from schemas.reports import (
    AllocationRealisationOut,
    CohortCompletionOut,
    FacilitatorGraduationsOut,
    FunnelStepOut,
    KubeStatusCountOut,
    ReportOut,
)
from service.reports import budget, graduations, kube, training, verification
from service.reports.envelope import Report
from service.spreadsheets import safe_cell

router = APIRouter(
    prefix="/api/v1/reports", tags=["reports"], responses=problem_responses(401, 403, 404, 422)
)

Row = TypeVar("Row", bound=BaseModel)


ProgramParam = Annotated[str | None, Query(max_length=20, description="Only this program.")]
RegionParam = Annotated[
    str | None,
    Query(
        max_length=16,
        description="Narrow the report to a region inside your own (dotted or not). Default: "
        "your whole region.",
    ),
]
FormatParam = Annotated[
    Literal["json", "csv"], Query(alias="format", description="`json` or `csv`.")
]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {}},
        "description": "The report (JSON, or CSV with `format=csv`).",
    }
}


def _render(
    report: Report[Any], row_model: type[Row], fmt: str, name: str
) -> ReportOut[Row] | Response:
    rows = [row_model.model_validate(row) for row in report.rows]
    if fmt == "json":
        return ReportOut[row_model](  # type: ignore[valid-type]
            region_code=report.region_code, generated_at=report.generated_at, rows=rows
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row_model.model_fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {
            name: safe_cell(value) if isinstance(value, str) else value
            for name, value in row.model_dump(mode="json").items()
        }
        for row in rows
    )
    region = (report.region_code or "national").replace(".", "")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{region}.csv"'},
    )


@router.get(
    "/verification-funnel",
    operation_id="reportVerificationFunnel",
    response_model=ReportOut[FunnelStepOut],
    responses=CSV_RESPONSE,
)
async def verification_funnel(
    session: SessionDep,
    caller: CallerDep,
    region: RegionParam = None,
    program: Annotated[str | None, Query(max_length=20, description="Only families in it.")] = None,
    fmt: FormatParam = "json",
) -> ReportOut[FunnelStepOut] | Response:
    """How many live families (and people in them) are listed, not yet visited, and found
    eligible, ineligible, not found, moved or deceased at their latest verification visit.
    Needs `reports:read`."""
    report = await verification.verification_funnel(session, caller, region=region, program=program)
    return _render(report, FunnelStepOut, fmt, "verification-funnel")


@router.get(
    "/graduations",
    operation_id="reportGraduations",
    response_model=ReportOut[FacilitatorGraduationsOut],
    responses=CSV_RESPONSE,
)
async def graduations_per_facilitator(
    session: SessionDep,
    caller: CallerDep,
    region: RegionParam = None,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Default: this year.")] = None,
    fmt: FormatParam = "json",
) -> ReportOut[FacilitatorGraduationsOut] | Response:
    """Active facilitators of the region with the graduations credited to them in the year, by
    kind (`mandiri`, `alamiah`, `verval`), against their yearly target. Needs `reports:read`."""
    report = await graduations.graduations_per_facilitator(
        session, caller, region=region, year=year
    )
    return _render(report, FacilitatorGraduationsOut, fmt, "graduations")


@router.get(
    "/training-completion",
    operation_id="reportTrainingCompletion",
    response_model=ReportOut[CohortCompletionOut],
    responses=CSV_RESPONSE,
)
async def training_completion(
    session: SessionDep,
    caller: CallerDep,
    region: RegionParam = None,
    program: ProgramParam = None,
    fmt: FormatParam = "json",
) -> ReportOut[CohortCompletionOut] | Response:
    """Training cohorts held in the region: sessions, participants, how many completed (their
    attendance reached the cohort's threshold, 75% unless set otherwise) and how many started
    a business afterwards. Needs `reports:read`."""
    report = await training.training_completion(session, caller, region=region, program=program)
    return _render(report, CohortCompletionOut, fmt, "training-completion")


@router.get(
    "/kube",
    operation_id="reportKube",
    response_model=ReportOut[KubeStatusCountOut],
    responses=CSV_RESPONSE,
)
async def kube_by_status(
    session: SessionDep,
    caller: CallerDep,
    region: RegionParam = None,
    program: ProgramParam = None,
    fmt: FormatParam = "json",
) -> ReportOut[KubeStatusCountOut] | Response:
    """KUBE groups of the region by status, and their grants by status with the sum of their
    amounts (rupiah). Needs `reports:read`."""
    report = await kube.kube_by_status(session, caller, region=region, program=program)
    return _render(report, KubeStatusCountOut, fmt, "kube")


@router.get(
    "/budget-realisation",
    operation_id="reportBudgetRealisation",
    response_model=ReportOut[AllocationRealisationOut],
    responses=CSV_RESPONSE,
)
async def budget_realisation(
    session: SessionDep,
    caller: CallerDep,
    region: RegionParam = None,
    program: ProgramParam = None,
    fiscal_year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    fmt: FormatParam = "json",
) -> ReportOut[AllocationRealisationOut] | Response:
    """Budget realisation per allocation of the region: amount, committed to payments,
    confirmed paid, remaining, and absorption (confirmed / amount). Needs `reports:read`."""
    report = await budget.budget_realisation(
        session, caller, region=region, program=program, fiscal_year=fiscal_year
    )
    return _render(report, AllocationRealisationOut, fmt, "budget-realisation")
