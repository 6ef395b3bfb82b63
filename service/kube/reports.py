"""Business progress reports of a group that received its grant."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.kube import GrantReportIn
from service.access import Caller
from service.errors import Conflict, FieldError, ValidationFailed
from service.journal import record_change
from service.kpm.families import today
from service.kube.grants import ENTITY, get_grant, record_transition, writable_grant
from service.kube.tables import KubeGrantReport

REPORTING_STATUSES = frozenset({"disbursed", "reporting"})


async def add_report(
    session: AsyncSession, caller: Caller, grant_id: uuid.UUID, data: GrantReportIn
) -> KubeGrantReport:
    """Reports are taken once the money is paid (``disbursed``) and until the grant is closed.
    The first report moves the grant from ``disbursed`` to ``reporting``, in the same write."""
    grant = await writable_grant(session, caller, grant_id, None)
    if grant.status not in REPORTING_STATUSES:
        raise Conflict(
            f"Reports are taken for disbursed grants; this one is {grant.status}.",
            code="not_reporting",
            params={"status": grant.status},
        )
    if data.report_date > today():
        raise ValidationFailed(
            errors=[FieldError("report_date", "in_future", "The report date is in the future.")]
        )
    report = KubeGrantReport(
        grant_id=grant.id,
        report_date=data.report_date,
        revenue=data.revenue,
        active_members=data.active_members,
        notes=data.notes,
        recorded_by=caller.client_id,
    )
    session.add(report)
    await session.flush()
    changes: dict[str, list[Any]] = {"reports": [None, report.report_date.isoformat()]}
    if grant.status == "disbursed":
        grant.status = "reporting"
        record_transition(session, caller, grant, "disbursed", "First business report.")
        changes["status"] = ["disbursed", "reporting"]
    await record_change(
        session,
        caller,
        grant,
        action="report",
        entity=ENTITY,
        region_code=grant.village_code,
        changes=changes,
    )
    return report


async def reports_of(
    session: AsyncSession, grant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[KubeGrantReport]]:
    """Reports of any number of grants in one query, by report date."""
    reports: dict[uuid.UUID, list[KubeGrantReport]] = defaultdict(list)
    if grant_ids:
        for report in await session.scalars(
            select(KubeGrantReport)
            .where(col(KubeGrantReport.grant_id).in_(grant_ids))
            .order_by(col(KubeGrantReport.report_date), col(KubeGrantReport.recorded_at))
        ):
            reports[report.grant_id].append(report)
    return reports


async def list_reports(
    session: AsyncSession, caller: Caller, grant_id: uuid.UUID
) -> list[KubeGrantReport]:
    grant = await get_grant(session, caller, grant_id)
    return (await reports_of(session, [grant.id]))[grant.id]
