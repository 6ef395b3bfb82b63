"""KUBE groups and grants by status, with the grants' amounts: how far the groups of a region
got from forming to a closed grant."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.access import Caller, within
from service.kube.tables import KubeGrant, KubeGroup
from service.reports.envelope import Report, report_region


@dataclass(frozen=True)
class KubeStatusCount:
    record: str  # "group" or "grant"
    status: str
    count: int
    amount: int  # rupiah; 0 for groups


async def kube_by_status(
    session: AsyncSession, caller: Caller, *, region: str | None, program: str | None
) -> Report[KubeStatusCount]:
    covered = report_region(caller, region)
    groups = select(col(KubeGroup.status), func.count()).group_by(col(KubeGroup.status))
    grants = (
        select(col(KubeGrant.status), func.count(), func.coalesce(func.sum(KubeGrant.amount), 0))
        .join(KubeGroup, col(KubeGroup.id) == col(KubeGrant.group_id))
        .group_by(col(KubeGrant.status))
    )
    if covered is not None:
        groups = groups.where(within(col(KubeGroup.village_code), covered))
        grants = grants.where(within(col(KubeGrant.village_code), covered))
    if program is not None:
        groups = groups.where(col(KubeGroup.program_code) == program.upper())
        grants = grants.where(col(KubeGroup.program_code) == program.upper())
    rows = [
        KubeStatusCount("group", status, count, 0)
        for status, count in await session.execute(groups.order_by(col(KubeGroup.status)))
    ]
    rows += [
        KubeStatusCount("grant", status, count, int(amount))
        for status, count, amount in await session.execute(grants.order_by(col(KubeGrant.status)))
    ]
    return Report(region_code=covered, rows=rows)
