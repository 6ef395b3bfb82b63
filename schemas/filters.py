"""The bounds of list parameters, declared once: REST's query parameters and GraphQL's list
arguments both validate through these types, so a 1 MB name search or a 17-digit NIK is refused
the same way (422 `validation_failed` naming the field) through either door.

REST uses the types in its `Query` parameters; GraphQL validates a list's arguments with the
model of that list below (the fields the service checks itself, region codes and enums, are
left to it)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.disbursements import PERIOD_PATTERN

NameSearch = Annotated[str, Field(min_length=2, max_length=100)]
ExactNik = Annotated[str, Field(min_length=16, max_length=16)]
ProgramCodeFilter = Annotated[str, Field(max_length=20)]
DesilFilter = Annotated[int, Field(ge=1, le=10)]
FiscalYearFilter = Annotated[int, Field(ge=2000, le=2100)]
PeriodFilter = Annotated[str, Field(pattern=PERIOD_PATTERN)]
ExternalReferenceFilter = Annotated[str, Field(max_length=64)]
CursorText = Annotated[str, Field(max_length=500)]


class ListArguments(BaseModel):
    """What every list takes besides its filter (the page size is the service's check_limit)."""

    model_config = ConfigDict(extra="ignore")

    cursor: CursorText | None = None


class RegionListArguments(ListArguments):
    name: NameSearch | None = None


class FamilyListArguments(ListArguments):
    program: ProgramCodeFilter | None = None
    desil: DesilFilter | None = None
    name: NameSearch | None = None
    nik: ExactNik | None = None
    no_kk: ExactNik | None = None


class KubeGroupListArguments(ListArguments):
    program: ProgramCodeFilter | None = None
    name: NameSearch | None = None


class TrainingCohortListArguments(ListArguments):
    program: ProgramCodeFilter | None = None
    name: NameSearch | None = None


class AllocationListArguments(ListArguments):
    program: ProgramCodeFilter | None = None
    fiscal_year: FiscalYearFilter | None = None


class DisbursementListArguments(ListArguments):
    program: ProgramCodeFilter | None = None
    period: PeriodFilter | None = None
    external_reference: ExternalReferenceFilter | None = None


class ReportArguments(BaseModel):
    """A report's arguments, with the bounds REST's report parameters declare."""

    model_config = ConfigDict(extra="ignore")

    region: Annotated[str, Field(max_length=16)] | None = None
    program: ProgramCodeFilter | None = None
    year: FiscalYearFilter | None = None
    fiscal_year: FiscalYearFilter | None = None
