"""Reports, region-scoped, as JSON or as a file for the offices' spreadsheets (`format=csv`,
`ndjson` or `xlsx`, written by the same machinery as the lists' exports, `api/exports.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, TypeVar, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import CallerDep, SessionDep
from api.exports import file_response, table
from api.problems import problem_responses
from schemas.reports import (
    AllocationRealisationOut,
    CohortCompletionOut,
    FacilitatorGraduationsOut,
    FunnelStepOut,
    KubeStatusCountOut,
    ReportOut,
)
from service.exports import MEDIA_TYPES, Chunk, FileFormat
from service.reports import budget, graduations, kube, training, verification
from service.reports.envelope import Report

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
    Literal["json", "csv", "ndjson", "xlsx"],
    Query(
        alias="format",
        description="`json`, or the report as a file: `csv`, `ndjson` (one row per line) or "
        "`xlsx` (a spreadsheet).",
    ),
]
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {},
            **{media.split(";")[0]: {} for media in MEDIA_TYPES.values()},
        },
        "description": "The report: JSON, or a file with `format=csv`, `ndjson` or `xlsx`.",
    }
}


async def _render(
    request: Request, report: Report[Any], row_model: type[Row], fmt: str, name: str
) -> ReportOut[Row] | Response:
    rows = [row_model.model_validate(row) for row in report.rows]
    if fmt == "json":
        return ReportOut[row_model](  # type: ignore[valid-type]
            region_code=report.region_code, generated_at=report.generated_at, rows=rows
        )
    # A report is a few hundred rows at most (one per facilitator, cohort, allocation or
    # status), computed before anything is sent: one chunk.
    columns = table(row_model)

    async def chunks() -> AsyncIterator[Chunk]:
        yield [columns.row(row) for row in rows]

    region = (report.region_code or "national").replace(".", "")
    return file_response(request, cast(FileFormat, fmt), f"{name}-{region}", columns.keys, chunks())


@router.get(
    "/verification-funnel",
    operation_id="reportVerificationFunnel",
    response_model=ReportOut[FunnelStepOut],
    responses=FILE_RESPONSE,
)
async def verification_funnel(
    request: Request,
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
    return await _render(request, report, FunnelStepOut, fmt, "verification-funnel")


@router.get(
    "/graduations",
    operation_id="reportGraduations",
    response_model=ReportOut[FacilitatorGraduationsOut],
    responses=FILE_RESPONSE,
)
async def graduations_per_facilitator(
    request: Request,
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
    return await _render(request, report, FacilitatorGraduationsOut, fmt, "graduations")


@router.get(
    "/training-completion",
    operation_id="reportTrainingCompletion",
    response_model=ReportOut[CohortCompletionOut],
    responses=FILE_RESPONSE,
)
async def training_completion(
    request: Request,
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
    return await _render(request, report, CohortCompletionOut, fmt, "training-completion")


@router.get(
    "/kube",
    operation_id="reportKube",
    response_model=ReportOut[KubeStatusCountOut],
    responses=FILE_RESPONSE,
)
async def kube_by_status(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    region: RegionParam = None,
    program: ProgramParam = None,
    fmt: FormatParam = "json",
) -> ReportOut[KubeStatusCountOut] | Response:
    """KUBE groups of the region by status, and their grants by status with the sum of their
    amounts (rupiah). Needs `reports:read`."""
    report = await kube.kube_by_status(session, caller, region=region, program=program)
    return await _render(request, report, KubeStatusCountOut, fmt, "kube")


@router.get(
    "/budget-realisation",
    operation_id="reportBudgetRealisation",
    response_model=ReportOut[AllocationRealisationOut],
    responses=FILE_RESPONSE,
)
async def budget_realisation(
    request: Request,
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
    return await _render(request, report, AllocationRealisationOut, fmt, "budget-realisation")
