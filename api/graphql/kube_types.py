"""GraphQL types of KUBE groups and grants. Nested lists (members, grant history, reports) are
resolved through the request's DataLoaders: one query per list kind, whatever the page size."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from api.graphql.scalars import Rupiah
from service.kube.tables import KubeGrant as GrantRow
from service.kube.tables import KubeGrantReport as ReportRow
from service.kube.tables import KubeGrantTransition as TransitionRow
from service.kube.tables import KubeGroup as GroupRow
from service.kube.tables import KubeMember as MemberRow

GqlInfo = Info[GraphQLContext, None]


@strawberry.type(description="A family in a KUBE group, with its role.")
class KubeMember:
    family_id: uuid.UUID
    role: str = strawberry.field(description="ketua, sekretaris, bendahara or anggota.")
    joined_at: dt.datetime

    @staticmethod
    def from_record(row: MemberRow) -> KubeMember:
        return KubeMember(family_id=row.family_id, role=row.role, joined_at=row.joined_at)


@strawberry.type(description="A KUBE: a joint business group of families. Needs kube:read.")
class KubeGroup:
    id: uuid.UUID
    name: str
    village_code: str
    program_code: str
    business_category: str
    facilitator_id: uuid.UUID | None
    status: str = strawberry.field(description="forming, active, inactive or dissolved.")
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @strawberry.field(description="Member families, in the order they joined.")
    async def members(self, info: GqlInfo) -> list[KubeMember]:
        rows = await info.context.loaders.kube_members.load(self.id)
        return [KubeMember.from_record(row) for row in rows]

    @staticmethod
    def from_record(row: GroupRow) -> KubeGroup:
        return KubeGroup(
            id=row.id,
            name=row.name,
            village_code=row.village_code,
            program_code=row.program_code,
            business_category=row.business_category,
            facilitator_id=row.facilitator_id,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


@strawberry.type
class KubeGroupPage:
    items: list[KubeGroup]
    next_cursor: str | None


@strawberry.type(description="One status change of a grant: who, when, and their note.")
class GrantTransition:
    from_status: str | None
    to_status: str
    note: str | None
    at: dt.datetime
    by_client: uuid.UUID | None
    by_name: str

    @staticmethod
    def from_record(row: TransitionRow) -> GrantTransition:
        return GrantTransition(
            from_status=row.from_status,
            to_status=row.to_status,
            note=row.note,
            at=row.at,
            by_client=row.by_client,
            by_name=row.by_name,
        )


@strawberry.type(description="A business progress report of a group that got its grant.")
class GrantReport:
    id: uuid.UUID
    grant_id: uuid.UUID
    report_date: dt.date
    revenue: Rupiah
    active_members: int
    notes: str | None
    recorded_at: dt.datetime

    @staticmethod
    def from_record(row: ReportRow) -> GrantReport:
        return GrantReport(
            id=row.id,
            grant_id=row.grant_id,
            report_date=row.report_date,
            revenue=Rupiah(row.revenue),
            active_members=row.active_members,
            notes=row.notes,
            recorded_at=row.recorded_at,
        )


@strawberry.type(description="A KUBE capital grant. Needs kube:read.")
class KubeGrant:
    id: uuid.UUID
    group_id: uuid.UUID
    village_code: str
    allocation_id: uuid.UUID | None
    amount: Rupiah
    purpose: str | None
    status: str = strawberry.field(
        description="proposed, recommended, approved, disbursed, reporting, closed, rejected "
        "or cancelled."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @strawberry.field(description="The group the grant is for (it lies in the same village).")
    async def group(self, info: GqlInfo) -> KubeGroup | None:
        row = await info.context.loaders.kube_group.load(self.group_id)
        return KubeGroup.from_record(row) if row else None

    @strawberry.field(description="Every status the grant went through, oldest first.")
    async def transitions(self, info: GqlInfo) -> list[GrantTransition]:
        rows = await info.context.loaders.grant_transitions.load(self.id)
        return [GrantTransition.from_record(row) for row in rows]

    @strawberry.field(description="Business progress reports, by report date.")
    async def reports(self, info: GqlInfo) -> list[GrantReport]:
        rows = await info.context.loaders.grant_reports.load(self.id)
        return [GrantReport.from_record(row) for row in rows]

    @staticmethod
    def from_record(row: GrantRow) -> KubeGrant:
        return KubeGrant(
            id=row.id,
            group_id=row.group_id,
            village_code=row.village_code,
            allocation_id=row.allocation_id,
            amount=Rupiah(row.amount),
            purpose=row.purpose,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


@strawberry.type
class KubeGrantPage:
    items: list[KubeGrant]
    next_cursor: str | None


@strawberry.input
class KubeMemberInput:
    family_id: uuid.UUID
    role: str = "anggota"


@strawberry.input
class KubeGroupCreateInput:
    name: str
    village_code: str
    business_category: str
    program_code: str = "KUBE"
    facilitator_id: uuid.UUID | None = None
    members: list[KubeMemberInput] = strawberry.field(default_factory=list)


@strawberry.input
class KubeGroupFilterInput:
    region: str | None = None
    village_code: str | None = None
    status: str | None = None
    program: str | None = None
    updated_since: dt.datetime | None = None
    name: str | None = None


@strawberry.input
class KubeGrantCreateInput:
    group_id: uuid.UUID
    amount: Rupiah
    allocation_id: uuid.UUID | None = None
    purpose: str | None = None


@strawberry.input
class KubeGrantFilterInput:
    region: str | None = None
    status: str | None = None
    group_id: uuid.UUID | None = None
    updated_since: dt.datetime | None = None


@strawberry.input(description="Only the fields sent are changed; `villageCode` only while forming.")
class KubeGroupUpdateInput:
    name: str | None = strawberry.UNSET
    village_code: str | None = strawberry.UNSET
    business_category: str | None = strawberry.UNSET
    facilitator_id: uuid.UUID | None = strawberry.UNSET


@strawberry.input(description="Only the fields sent are changed; only before approval.")
class KubeGrantUpdateInput:
    amount: Rupiah | None = strawberry.UNSET
    allocation_id: uuid.UUID | None = strawberry.UNSET
    purpose: str | None = strawberry.UNSET


@strawberry.input(description="A business progress report: revenue in whole rupiah.")
class KubeGrantReportInput:
    report_date: dt.date
    revenue: Rupiah
    active_members: int
    notes: str | None = None
