"""Graduations per facilitator against their yearly target (Klaten: every facilitator
graduates 5 families a year)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller, within
from service.kpm.tables import Enrollment, Facilitator
from service.reports.envelope import Report, report_region


@dataclass(frozen=True)
class FacilitatorGraduations:
    facilitator_id: uuid.UUID
    name: str
    kind: str
    region_code: str
    yearly_target: int | None
    graduated: int
    mandiri: int
    alamiah: int
    verval: int
    target_reached_pct: float | None  # None when no target is set


async def graduations_per_facilitator(
    session: AsyncSession, caller: Caller, *, region: str | None, year: int | None
) -> Report[FacilitatorGraduations]:
    """Active facilitators of the region, with the graduations credited to them in ``year``
    (this year by default), by kind."""
    covered = report_region(caller, region)
    year = year or dt.date.today().year
    credited = and_(
        col(Enrollment.credited_facilitator_id) == col(Facilitator.id),
        col(Enrollment.status) == "graduated",
        extract("year", col(Enrollment.ended_on)) == year,
    )

    def of_kind(kind: str) -> ColumnElement[int]:
        return func.count().filter(col(Enrollment.graduation_kind) == kind)

    query = (
        select(
            Facilitator,
            func.count(col(Enrollment.id)),
            of_kind("mandiri"),
            of_kind("alamiah"),
            of_kind("verval"),
        )
        .outerjoin(Enrollment, credited)
        .where(col(Facilitator.active))
        .group_by(col(Facilitator.id))
        .order_by(col(Facilitator.region_code), col(Facilitator.name))
    )
    if covered is not None:
        query = query.where(within(col(Facilitator.region_code), covered))
    rows = []
    for facilitator, graduated, mandiri, alamiah, verval in await session.execute(query):
        target = facilitator.yearly_target
        rows.append(
            FacilitatorGraduations(
                facilitator_id=facilitator.id,
                name=facilitator.name,
                kind=facilitator.kind,
                region_code=facilitator.region_code,
                yearly_target=target,
                graduated=graduated,
                mandiri=mandiri,
                alamiah=alamiah,
                verval=verval,
                target_reached_pct=round(100 * graduated / target, 1) if target else None,
            )
        )
    return Report(region_code=covered, rows=rows)
