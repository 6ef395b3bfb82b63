"""The GraphQL door: the same service functions, permissions and region rules as REST."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from api.graphql import kube_resolvers as kube
from api.graphql import training_resolvers as training
from api.graphql.context import GraphQLContext
from api.graphql.kpm_types import (
    Family,
    FamilyCreateInput,
    FamilyFilterInput,
    FamilyPage,
)
from api.graphql.money_types import (
    Allocation,
    AllocationCreateInput,
    AllocationFilterInput,
    AllocationPage,
    AllocationUpdateInput,
    Disbursement,
    DisbursementCreateInput,
    DisbursementFilterInput,
    DisbursementPage,
    TransitionInput,
)
from api.graphql.permissions import IsAuthenticated
from api.graphql.router import DinsosSchema
from api.graphql.scalars import SCALARS
from api.graphql.serial_access import SerialDatabaseAccess
from api.graphql.types import (
    BenefitKind,
    Program,
    ProgramLevel,
    ProgramPage,
    Region,
    RegionLevel,
    RegionPage,
)
from schemas.allocations import AllocationCreate, AllocationUpdate
from schemas.disbursements import DisbursementCreate, DisbursementOut, TransitionRequest
from schemas.kpm import FamilyCreate
from schemas.programs import ProgramCreate, ProgramUpdate
from service.allocations import service as allocations
from service.allocations.service import present_allocation
from service.disbursements import operations as money
from service.disbursements import queries as disbursements
from service.disbursements.queries import present_disbursement
from service.kpm import families
from service.kpm.views import present_family
from service.programs import service as programs
from service.regions import service as regions
from service.settings import Settings

GqlInfo = Info[GraphQLContext, None]

KUBE_READ = "Needs kube:read."
KUBE_WRITE = "Needs kube:write. Same rules and error codes as the REST endpoint."
TRAINING_READ = "Needs training:read."
TRAINING_WRITE = "Needs training:write. Same rules and error codes as the REST endpoint."
# `expectedVersion`, where offered, is REST's If-Match: optional; a stale one fails with code
# `version_mismatch`.


@strawberry.input
class ProgramCreateInput:
    code: str
    name: str
    level: ProgramLevel
    benefit_kind: BenefitKind
    region_code: str | None = None
    group_size_min: int | None = None
    group_size_max: int | None = None
    active: bool = True


@strawberry.input
class ProgramUpdateInput:
    name: str | None = strawberry.UNSET
    level: ProgramLevel | None = strawberry.UNSET
    benefit_kind: BenefitKind | None = strawberry.UNSET
    region_code: str | None = strawberry.UNSET
    group_size_min: int | None = strawberry.UNSET
    group_size_max: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


def _sent_fields(data: object) -> dict[str, object]:
    """Only the fields the client sent, enums as their values: the shape of a REST PATCH body."""
    sent: dict[str, object] = {}
    for name, value in vars(data).items():
        if value is strawberry.UNSET:
            continue
        sent[name] = value.value if hasattr(value, "value") else value
    return sent


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def region(self, info: GqlInfo, code: str) -> Region:
        found = await regions.get_region(info.context.session, code)
        return Region.from_record(found.region)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def regions(
        self,
        info: GqlInfo,
        parent_code: str | None = None,
        level: RegionLevel | None = None,
        name: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RegionPage:
        page = await regions.list_regions(
            info.context.session,
            parent_code=parent_code,
            level=level.value if level else None,
            name=name,
            limit=limit,
            cursor=cursor,
        )
        return RegionPage(
            items=[Region.from_record(item) for item in page.items], next_cursor=page.next_cursor
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def program(self, info: GqlInfo, code: str) -> Program:
        record = await programs.get_program(info.context.session, info.context.caller, code)
        return Program.from_record(record)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def programs(
        self, info: GqlInfo, limit: int = 50, cursor: str | None = None
    ) -> ProgramPage:
        page = await programs.list_programs(
            info.context.session, info.context.caller, limit=limit, cursor=cursor
        )
        return ProgramPage(
            items=[Program.from_record(item) for item in page.items], next_cursor=page.next_cursor
        )

    @strawberry.field(permission_classes=[IsAuthenticated], description="Needs kpm:read.")
    async def family(self, info: GqlInfo, id: uuid.UUID) -> Family:
        caller = info.context.caller
        record = await families.read_family(info.context.session, caller, id)
        return Family.from_out(present_family(record, caller))

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Live families in your region with their members, as REST's list.",
    )
    async def families(
        self,
        info: GqlInfo,
        filter: FamilyFilterInput | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> FamilyPage:
        caller = info.context.caller
        filters = families.FamilyFilters(**vars(filter)) if filter else families.FamilyFilters()
        page = await families.list_families(
            info.context.session, caller, filters, limit=limit, cursor=cursor
        )
        return FamilyPage(
            items=[Family.from_out(present_family(r, caller)) for r in page.items],
            next_cursor=page.next_cursor,
        )

    kube_group = strawberry.field(
        resolver=kube.kube_group, permission_classes=[IsAuthenticated], description=KUBE_READ
    )
    kube_groups = strawberry.field(
        resolver=kube.kube_groups,
        permission_classes=[IsAuthenticated],
        description="KUBE groups in your region, ordered by last change. Needs kube:read.",
    )
    kube_grant = strawberry.field(
        resolver=kube.kube_grant, permission_classes=[IsAuthenticated], description=KUBE_READ
    )
    kube_grants = strawberry.field(
        resolver=kube.kube_grants,
        permission_classes=[IsAuthenticated],
        description="KUBE grants in your region, ordered by last change. Needs kube:read.",
    )
    training_cohort = strawberry.field(
        resolver=training.training_cohort,
        permission_classes=[IsAuthenticated],
        description=TRAINING_READ,
    )
    training_cohorts = strawberry.field(
        resolver=training.training_cohorts,
        permission_classes=[IsAuthenticated],
        description="Training cohorts held in your region, ordered by last change. "
        "Needs training:read.",
    )

    @strawberry.field(permission_classes=[IsAuthenticated], description="Needs allocations:read.")
    async def allocation(self, info: GqlInfo, id: uuid.UUID) -> Allocation:
        record = await allocations.get_allocation(info.context.session, info.context.caller, id)
        return Allocation.from_out(present_allocation(record))

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Allocations in your region, as REST's list. Needs allocations:read.",
    )
    async def allocations(
        self,
        info: GqlInfo,
        filter: AllocationFilterInput | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AllocationPage:
        filters = allocations.AllocationFilters(**vars(filter)) if filter else None
        page = await allocations.list_allocations(
            info.context.session,
            info.context.caller,
            filters or allocations.AllocationFilters(),
            limit=limit,
            cursor=cursor,
        )
        return AllocationPage(
            items=[Allocation.from_out(present_allocation(item)) for item in page.items],
            next_cursor=page.next_cursor,
        )

    @strawberry.field(permission_classes=[IsAuthenticated], description="Needs disbursements:read.")
    async def disbursement(self, info: GqlInfo, id: uuid.UUID) -> Disbursement:
        record = await disbursements.get_disbursement(info.context.session, info.context.caller, id)
        return Disbursement.from_out(present_disbursement(record))

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Disbursements to recipients in your region, as REST's list. "
        "Needs disbursements:read.",
    )
    async def disbursements(
        self,
        info: GqlInfo,
        filter: DisbursementFilterInput | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> DisbursementPage:
        filters = disbursements.DisbursementFilters(**vars(filter)) if filter else None
        page = await disbursements.list_disbursements(
            info.context.session,
            info.context.caller,
            filters or disbursements.DisbursementFilters(),
            limit=limit,
            cursor=cursor,
        )
        return DisbursementPage(
            items=[Disbursement.from_out(present_disbursement(item)) for item in page.items],
            next_cursor=page.next_cursor,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Needs kpm:write.")
    async def create_family(self, info: GqlInfo, input: FamilyCreateInput) -> Family:
        caller = info.context.caller
        body = FamilyCreate.model_validate(
            {**vars(input), "members": [vars(member) for member in input.members]}
        )
        record = await families.create_family(info.context.session, caller, body)
        return Family.from_out(present_family(record, caller))

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Needs programs:write.")
    async def create_program(self, info: GqlInfo, input: ProgramCreateInput) -> Program:
        body = ProgramCreate.model_validate(_sent_fields(input))
        record = await programs.create_program(info.context.session, info.context.caller, body)
        return Program.from_record(record)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Needs programs:write. `expectedVersion` is the version you read (REST's "
        "If-Match); a stale one fails with code `version_mismatch`.",
    )
    async def update_program(
        self, info: GqlInfo, code: str, expected_version: int, input: ProgramUpdateInput
    ) -> Program:
        body = ProgramUpdate.model_validate(_sent_fields(input))
        record = await programs.update_program(
            info.context.session, info.context.caller, code, body, if_match=expected_version
        )
        return Program.from_record(record)

    create_kube_group = strawberry.mutation(
        resolver=kube.create_kube_group,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    add_kube_member = strawberry.mutation(
        resolver=kube.add_kube_member, permission_classes=[IsAuthenticated], description=KUBE_WRITE
    )
    change_kube_group_status = strawberry.mutation(
        resolver=kube.change_kube_group_status,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    create_kube_grant = strawberry.mutation(
        resolver=kube.create_kube_grant,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    transition_kube_grant = strawberry.mutation(
        resolver=kube.transition_kube_grant,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    create_training_cohort = strawberry.mutation(
        resolver=training.create_training_cohort,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )
    enrol_participant = strawberry.mutation(
        resolver=training.enrol_participant,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )
    record_attendance = strawberry.mutation(
        resolver=training.record_attendance,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Needs allocations:write."
    )
    async def create_allocation(self, info: GqlInfo, input: AllocationCreateInput) -> Allocation:
        body = AllocationCreate.model_validate(vars(input))
        record = await allocations.create_allocation(
            info.context.session, info.context.caller, body
        )
        return Allocation.from_out(present_allocation(record))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Needs allocations:write. `expectedVersion` is the version you read (REST's "
        "If-Match); the amount cannot go below what is committed.",
    )
    async def update_allocation(
        self, info: GqlInfo, id: uuid.UUID, expected_version: int, input: AllocationUpdateInput
    ) -> Allocation:
        body = AllocationUpdate.model_validate(_sent_fields(input))
        record = await allocations.update_allocation(
            info.context.session, info.context.caller, id, body, if_match=expected_version
        )
        return Allocation.from_out(present_allocation(record))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Needs disbursements:write. Runs at most once per `idempotencyKey`, as REST's "
        "Idempotency-Key (shared with REST): a retry with the same key and input answers the "
        "first result; another input is refused (`idempotency_key_reused`); while the first "
        "still runs, `idempotency_in_progress`. Commits on its own, whatever else the request "
        "does.",
    )
    async def create_disbursement(
        self, info: GqlInfo, idempotency_key: str, input: DisbursementCreateInput
    ) -> Disbursement:
        body = DisbursementCreate.model_validate(vars(input))
        outcome = await money.create_once(
            info.context.sessions, info.context.caller, idempotency_key, body
        )
        return Disbursement.from_out(DisbursementOut.model_validate(outcome.response.body))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Needs disbursements:write. Moves: scheduled -> sent -> confirmed | failed, "
        "confirmed -> reversed (`invalid_transition` otherwise). Runs at most once per "
        "`idempotencyKey`, as createDisbursement.",
    )
    async def transition_disbursement(
        self, info: GqlInfo, idempotency_key: str, id: uuid.UUID, input: TransitionInput
    ) -> Disbursement:
        body = TransitionRequest.model_validate(vars(input))
        outcome = await money.transition_once(
            info.context.sessions, info.context.caller, idempotency_key, id, body
        )
        return Disbursement.from_out(DisbursementOut.model_validate(outcome.response.body))


def build_schema(settings: Settings) -> DinsosSchema:
    return DinsosSchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[
            lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            SerialDatabaseAccess,
        ],
    )
