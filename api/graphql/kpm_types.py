"""GraphQL types of the KPM registry, built from the same presenter as REST (so masking of NIK
and No KK is identical through both doors)."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry

from schemas.kpm import EnrollmentOut, FacilitatorOut, FamilyOut, MemberOut


@strawberry.type(description="A person in a family. `nik` is masked without pii:read.")
class Member:
    id: uuid.UUID
    nik: str
    name: str
    sex: str
    birth_date: dt.date
    relationship: str
    nik_mismatch: bool

    @staticmethod
    def from_out(out: MemberOut) -> Member:
        return Member(
            id=out.id,
            nik=out.nik,
            name=out.name,
            sex=out.sex.value,
            birth_date=out.birth_date,
            relationship=out.relationship.value,
            nik_mismatch=out.nik_mismatch,
        )


@strawberry.type
class Enrollment:
    program_code: str
    status: str
    started_on: dt.date | None
    ended_on: dt.date | None
    graduation_kind: str | None
    credited_facilitator_id: uuid.UUID | None
    version: int

    @staticmethod
    def from_out(out: EnrollmentOut) -> Enrollment:
        return Enrollment(
            program_code=out.program_code,
            status=out.status.value,
            started_on=out.started_on,
            ended_on=out.ended_on,
            graduation_kind=out.graduation_kind.value if out.graduation_kind else None,
            credited_facilitator_id=out.credited_facilitator_id,
            version=out.version,
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

    @staticmethod
    def from_out(out: FamilyOut) -> Family:
        return Family(
            id=out.id,
            no_kk=out.no_kk,
            village_code=out.village_code,
            address=out.address,
            desil=out.desil,
            dtsen_id=out.dtsen_id,
            facilitator_id=out.facilitator_id,
            verification_status=out.verification_status.value if out.verification_status else None,
            archived_at=out.archived_at,
            archive_reason=out.archive_reason,
            members=[Member.from_out(m) for m in out.members],
            enrollments=[Enrollment.from_out(e) for e in out.enrollments],
            created_at=out.created_at,
            updated_at=out.updated_at,
            version=out.version,
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
