"""GraphQL object types. Built from service records by explicit constructors: table models are
never exposed as API types."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from service.programs.tables import Program as ProgramRecord
from service.regions.tables import Region as RegionRecord


@strawberry.enum
class RegionLevel(Enum):
    PROVINCE = "province"
    REGENCY = "regency"
    DISTRICT = "district"
    VILLAGE = "village"


@strawberry.enum
class ProgramLevel(Enum):
    NATIONAL = "national"
    PROVINCIAL = "provincial"
    DISTRICT = "district"


@strawberry.enum
class BenefitKind(Enum):
    CASH = "cash"
    IN_KIND = "in_kind"
    CAPITAL = "capital"
    TRAINING = "training"


@strawberry.type(description="A region of the administrative tree; codes are dotted.")
class Region:
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None

    @strawberry.field(description="The region directly above, if any.")
    async def parent(self, info: Info[GraphQLContext, None]) -> Region | None:
        if self.parent_code is None:
            return None
        record = await info.context.loaders.region_by_code.load(self.parent_code)
        return Region.from_record(record) if record else None

    @staticmethod
    def from_record(record: RegionRecord) -> Region:
        return Region(
            code=record.code,
            name=record.name,
            level=RegionLevel(record.level),
            parent_code=record.parent_code,
        )


@strawberry.type
class RegionPage:
    items: list[Region]
    next_cursor: str | None


@strawberry.type(description="A social program (PKH, BPNT, PK3E, KUBE, or a local one).")
class Program:
    id: uuid.UUID
    code: str
    name: str
    level: ProgramLevel
    benefit_kind: BenefitKind
    region_code: str | None
    group_size_min: int | None
    group_size_max: int | None
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int

    @strawberry.field(description="The owning region; none for a national program.")
    async def region(self, info: Info[GraphQLContext, None]) -> Region | None:
        if self.region_code is None:
            return None
        record = await info.context.loaders.region_by_code.load(self.region_code)
        return Region.from_record(record) if record else None

    @staticmethod
    def from_record(record: ProgramRecord) -> Program:
        return Program(
            id=record.id,
            code=record.code,
            name=record.name,
            level=ProgramLevel(record.level),
            benefit_kind=BenefitKind(record.benefit_kind),
            region_code=record.region_code,
            group_size_min=record.group_size_min,
            group_size_max=record.group_size_max,
            active=record.active,
            created_at=record.created_at,
            updated_at=record.updated_at,
            version=record.version,
        )


@strawberry.type
class ProgramPage:
    items: list[Program]
    next_cursor: str | None


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


Limit = Annotated[int, strawberry.argument(description="Page size, 1 to 500.")]
