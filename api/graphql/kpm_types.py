"""GraphQL types of the KPM registry, built from the same presenter as REST (so masking of NIK
and No KK is identical through both doors). Nested histories (a family's verification visits, an
enrollment's statuses) are read through the request's DataLoaders: one query per kind, whatever
the page size."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from api.graphql.context import GraphQLContext
from schemas.kpm import (
    EnrollmentOut,
    EnrollmentTransitionOut,
    FacilitatorOut,
    ImportJobOut,
    ImportRefusalOut,
    VerificationOut,
)
from service.access import Caller
from service.kpm.tables import EnrollmentTransition as TransitionRow
from service.kpm.tables import Verification as VerificationRow
from service.kpm.views import FamilyRecord, FamilyRecordRow, presented_fields

GqlInfo = Info[GraphQLContext, None]


@strawberry.type(description="A person in a family. `nik` is masked without pii:read.")
class Member:
    id: uuid.UUID
    nik: str
    name: str
    sex: str
    birth_date: dt.date
    relationship: str
    nik_mismatch: bool


@strawberry.type(description="One status an enrollment went through.")
class EnrollmentTransition:
    from_status: str | None
    to_status: str
    on_date: dt.date
    reason: str | None
    at: dt.datetime

    @staticmethod
    def from_record(row: TransitionRow) -> EnrollmentTransition:
        out = EnrollmentTransitionOut.model_validate(row)
        return EnrollmentTransition(
            from_status=out.from_status.value if out.from_status else None,
            to_status=out.to_status.value,
            on_date=out.on_date,
            reason=out.reason,
            at=out.at,
        )


@strawberry.type
class Enrollment:
    id: strawberry.Private[uuid.UUID]
    program_code: str
    status: str
    started_on: dt.date | None
    ended_on: dt.date | None
    graduation_kind: str | None
    credited_facilitator_id: uuid.UUID | None
    version: int

    @strawberry.field(
        description="Every status the enrollment went through, oldest first (REST's "
        "GET /api/v1/kpm/{family_id}/enrollments/{program_code}/history)."
    )
    async def history(self, info: GqlInfo) -> list[EnrollmentTransition]:
        rows = await info.context.loaders.enrollment_history.load(self.id)
        return [EnrollmentTransition.from_record(row) for row in rows]

    @staticmethod
    def from_out(out: EnrollmentOut) -> Enrollment:
        return Enrollment(
            id=out.id,
            program_code=out.program_code,
            status=out.status.value,
            started_on=out.started_on,
            ended_on=out.ended_on,
            graduation_kind=out.graduation_kind.value if out.graduation_kind else None,
            credited_facilitator_id=out.credited_facilitator_id,
            version=out.version,
        )


_ENROLLMENT_ATTRIBUTES = (
    "id",
    "program_code",
    "status",
    "started_on",
    "ended_on",
    "graduation_kind",
    "credited_facilitator_id",
    "version",
)


@strawberry.type(description="A field visit (verval) and its outcome.")
class Verification:
    id: uuid.UUID
    family_id: uuid.UUID
    visited_on: dt.date
    outcome: str = strawberry.field(
        description="eligible, ineligible, not_found, moved or deceased."
    )
    facilitator_id: uuid.UUID | None
    notes: str | None
    recorded_at: dt.datetime

    @staticmethod
    def from_record(row: VerificationRow) -> Verification:
        out = VerificationOut.model_validate(row)
        return Verification(
            id=out.id,
            family_id=out.family_id,
            visited_on=out.visited_on,
            outcome=out.outcome.value,
            facilitator_id=out.facilitator_id,
            notes=out.notes,
            recorded_at=out.recorded_at,
        )


@strawberry.type(description="A beneficiary family (KPM). `noKk` is masked without pii:read.")
class Family:
    id: uuid.UUID
    no_kk: str
    village_code: str
    address: str | None
    desil: int | None
    dtsen_id: str | None
    facilitator_id: uuid.UUID | None
    verification_status: str | None
    archived_at: dt.datetime | None
    archive_reason: str | None
    members: list[Member]
    enrollments: list[Enrollment]
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @strawberry.field(
        description="The family's verification visits, latest first (REST's "
        "GET /api/v1/kpm/{family_id}/verifications)."
    )
    async def verifications(self, info: GqlInfo) -> list[Verification]:
        rows = await info.context.loaders.family_verifications.load(self.id)
        return [Verification.from_record(row) for row in rows]

    @staticmethod
    def from_record(record: FamilyRecord | FamilyRecordRow, caller: Caller) -> Family:
        """The family as REST presents it to ``caller`` (NIK and No KK masked without
        pii:read), from ``presented_fields``: the database's values are not validated again."""
        fields = presented_fields(record, caller)
        # The fields' names are the attributes' (the enrollments' have a few more).
        return Family(
            **{
                **fields,
                "members": [Member(**member) for member in fields["members"]],
                "enrollments": [
                    Enrollment(**{name: e[name] for name in _ENROLLMENT_ATTRIBUTES})
                    for e in fields["enrollments"]
                ],
            }
        )


@strawberry.type
class FamilyPage:
    items: list[Family]
    next_cursor: str | None


@strawberry.type
class Facilitator:
    id: uuid.UUID
    name: str
    kind: str
    region_code: str
    active: bool
    yearly_target: int | None
    version: int

    @staticmethod
    def from_out(out: FacilitatorOut) -> Facilitator:
        return Facilitator(
            id=out.id,
            name=out.name,
            kind=out.kind.value,
            region_code=out.region_code,
            active=out.active,
            yearly_target=out.yearly_target,
            version=out.version,
        )


@strawberry.type
class FacilitatorPage:
    items: list[Facilitator]
    next_cursor: str | None


@strawberry.type(description="An import of a roll of families: its status and counts so far.")
class ImportJob:
    id: uuid.UUID
    status: str = strawberry.field(description="queued, running, done or failed.")
    format: str
    bytes_total: int
    bytes_read: int
    rows_read: int
    families_read: int
    families_created: int
    families_updated: int
    families_unchanged: int
    families_refused: int
    people_imported: int
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def from_out(out: ImportJobOut) -> ImportJob:
        return ImportJob(**out.model_dump())


@strawberry.type(
    description="Why a family of an import was refused. `nik` and `noKk` are "
    "masked without pii:read."
)
class ImportRefusal:
    line: int
    lines: list[int] = strawberry.field(description="All the lines of the refused family.")
    no_kk: str
    nik: str | None
    field: str
    code: str
    message: str

    @staticmethod
    def from_out(out: ImportRefusalOut) -> ImportRefusal:
        return ImportRefusal(**out.model_dump())


@strawberry.type
class ImportRefusalPage:
    items: list[ImportRefusal]
    next_cursor: str | None


@strawberry.input
class MemberInput:
    nik: str
    name: str
    sex: str
    birth_date: dt.date
    relationship: str


@strawberry.input
class FamilyCreateInput:
    no_kk: str
    village_code: str
    members: list[MemberInput]
    address: str | None = None
    desil: int | None = None
    dtsen_id: str | None = None
    facilitator_id: uuid.UUID | None = None
    programs: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class FamilyFilterInput:
    region: str | None = None
    village_code: str | None = None
    verification_status: str | None = None
    program: str | None = None
    enrollment_status: str | None = None
    desil: int | None = None
    updated_since: dt.datetime | None = None
    name: str | None = None
    nik: str | None = None
    no_kk: str | None = None


@strawberry.input(description="Only the fields sent are changed. Members have their own fields.")
class FamilyUpdateInput:
    village_code: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    desil: int | None = strawberry.UNSET
    dtsen_id: str | None = strawberry.UNSET
    facilitator_id: uuid.UUID | None = strawberry.UNSET


@strawberry.input(description="Only the fields sent are changed.")
class MemberUpdateInput:
    nik: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    sex: str | None = strawberry.UNSET
    birth_date: dt.date | None = strawberry.UNSET
    relationship: str | None = strawberry.UNSET


@strawberry.input
class VerificationInput:
    visited_on: dt.date
    outcome: str = strawberry.field(
        description="eligible, ineligible, not_found, moved or deceased."
    )
    facilitator_id: uuid.UUID | None = None
    notes: str | None = None


@strawberry.input
class EnrollmentCreateInput:
    program_code: str
    status: str = strawberry.field(default="proposed", description="proposed or active.")
    started_on: dt.date | None = None


@strawberry.input(
    description="A status change. Graduating needs `graduationKind`; the family's facilitator "
    "is credited unless another is named."
)
class EnrollmentChangeInput:
    status: str
    on_date: dt.date | None = strawberry.field(default=None, description="Defaults to today.")
    reason: str | None = None
    graduation_kind: str | None = strawberry.field(
        default=None, description="mandiri, alamiah or verval."
    )
    credited_facilitator_id: uuid.UUID | None = None


@strawberry.input
class FacilitatorCreateInput:
    name: str
    kind: str = strawberry.field(description="PKH, TKSK, KUBE or other.")
    region_code: str = strawberry.field(description="Area of work (any region level).")
    active: bool = True
    yearly_target: int | None = None


@strawberry.input(description="Only the fields sent are changed.")
class FacilitatorUpdateInput:
    name: str | None = strawberry.UNSET
    kind: str | None = strawberry.UNSET
    region_code: str | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET
    yearly_target: int | None = strawberry.UNSET
