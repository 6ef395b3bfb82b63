"""Resolvers of the KPM (family) fields: parse, call the same service functions as REST, render.
Unmasked NIK and No KK reach only callers with pii:read, and the service audits each such read."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from strawberry.types import Info

from api.deps import one_statement
from api.graphql.context import GraphQLContext
from api.graphql.inputs import check_list_arguments, sent_fields
from api.graphql.kpm_types import (
    Enrollment,
    EnrollmentChangeInput,
    EnrollmentCreateInput,
    Family,
    FamilyCreateInput,
    FamilyFilterInput,
    FamilyPage,
    FamilyUpdateInput,
    MemberInput,
    MemberUpdateInput,
    Verification,
    VerificationInput,
)
from schemas.filters import FamilyListArguments, ProgramCodeFilter
from schemas.kpm import (
    ArchiveRequest,
    EnrollmentChange,
    EnrollmentCreate,
    EnrollmentOut,
    FamilyCreate,
    FamilyUpdate,
    MemberIn,
    MemberUpdate,
    VerificationIn,
)
from service.kpm import enrollment, families, verification

GqlInfo = Info[GraphQLContext, None]


async def family(info: GqlInfo, id: uuid.UUID) -> Family:
    return await family_of(info.context, id)


async def family_of(context: GraphQLContext, id: uuid.UUID) -> Family:
    """``family``, from the context alone (the prepared reads call it so)."""
    # REST's read of one statement (its audit included): the same answer, the same cost.
    caller = context.caller
    assert context.request is not None
    record = await families.read_family_at_once(one_statement(context.request), caller, id)
    return Family.from_record(record, caller)


async def families_list(
    info: GqlInfo,
    filter: FamilyFilterInput | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> FamilyPage:
    caller = info.context.caller
    check_list_arguments(FamilyListArguments, filter, cursor=cursor)
    filters = families.FamilyFilters(**vars(filter)) if filter else families.FamilyFilters()
    page = await families.list_families(
        info.context.session, caller, filters, limit=limit, cursor=cursor
    )
    return FamilyPage(
        items=[Family.from_record(r, caller) for r in page.items],
        next_cursor=page.next_cursor,
    )


async def create_family(info: GqlInfo, input: FamilyCreateInput) -> Family:
    caller = info.context.caller
    body = FamilyCreate.model_validate(
        {**vars(input), "members": [vars(member) for member in input.members]}
    )
    record = await families.create_family(info.context.session, caller, body)
    return Family.from_record(record, caller)


# Each change of a family or its members takes `expected_version`, the family's version
# (REST's If-Match, which these operations require: without it REST answers 428).


async def update_family(
    info: GqlInfo, id: uuid.UUID, expected_version: int, input: FamilyUpdateInput
) -> Family:
    caller = info.context.caller
    body = FamilyUpdate.model_validate(sent_fields(input))
    record = await families.update_family(
        info.context.session, caller, id, body, if_match=expected_version
    )
    return Family.from_record(record, caller)


async def archive_family(
    info: GqlInfo, id: uuid.UUID, expected_version: int, reason: str
) -> Family:
    caller = info.context.caller
    body = ArchiveRequest.model_validate({"reason": reason})
    record = await families.archive_family(
        info.context.session, caller, id, body.reason, if_match=expected_version
    )
    return Family.from_record(record, caller)


async def add_member(
    info: GqlInfo, family_id: uuid.UUID, expected_version: int, input: MemberInput
) -> Family:
    caller = info.context.caller
    body = MemberIn.model_validate(vars(input))
    record = await families.add_member(
        info.context.session, caller, family_id, body, if_match=expected_version
    )
    return Family.from_record(record, caller)


async def update_member(
    info: GqlInfo,
    family_id: uuid.UUID,
    member_id: uuid.UUID,
    expected_version: int,
    input: MemberUpdateInput,
) -> Family:
    caller = info.context.caller
    body = MemberUpdate.model_validate(sent_fields(input))
    record = await families.update_member(
        info.context.session, caller, family_id, member_id, body, if_match=expected_version
    )
    return Family.from_record(record, caller)


async def remove_member(
    info: GqlInfo, family_id: uuid.UUID, member_id: uuid.UUID, expected_version: int
) -> Family:
    caller = info.context.caller
    record = await families.remove_member(
        info.context.session, caller, family_id, member_id, if_match=expected_version
    )
    return Family.from_record(record, caller)


async def record_verification(
    info: GqlInfo, family_id: uuid.UUID, input: VerificationInput
) -> Verification:
    body = VerificationIn.model_validate(vars(input))
    visit = await verification.record_verification(
        info.context.session, info.context.caller, family_id, body
    )
    return Verification.from_record(visit)


async def enroll_family(
    info: GqlInfo, family_id: uuid.UUID, input: EnrollmentCreateInput
) -> Enrollment:
    body = EnrollmentCreate.model_validate(vars(input))
    record = await enrollment.enroll(info.context.session, info.context.caller, family_id, body)
    return Enrollment.from_out(EnrollmentOut.model_validate(record, from_attributes=True))


class EnrollmentPath(BaseModel):
    """REST's path bound on the program code (the same refusal: `string_too_long`)."""

    program_code: ProgramCodeFilter


async def change_enrollment(
    info: GqlInfo,
    family_id: uuid.UUID,
    program_code: str,
    expected_version: int,
    input: EnrollmentChangeInput,
) -> Enrollment:
    """`expected_version` is the enrollment's own version (REST's If-Match)."""
    EnrollmentPath(program_code=program_code)
    body = EnrollmentChange.model_validate(vars(input))
    record = await enrollment.change_enrollment(
        info.context.session,
        info.context.caller,
        family_id,
        program_code,
        body,
        if_match=expected_version,
    )
    return Enrollment.from_out(EnrollmentOut.model_validate(record, from_attributes=True))
