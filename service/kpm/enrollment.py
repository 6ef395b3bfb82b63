"""Enrollment of families in programs, with the status machine and graduation."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.kpm import EnrollmentChange, EnrollmentCreate
from service.access import Caller, ensure_writable
from service.errors import Conflict, FieldError, NotFound, ValidationFailed
from service.journal import record_change
from service.kpm.families import ENTITY, check_facilitator, get_family, today
from service.kpm.reference import program_codes
from service.kpm.tables import Enrollment, EnrollmentTransition, Family
from service.versions import ensure_version

# Which status may follow which. Graduation and exit are final: a family that comes back is
# enrolled anew by a later program cycle, not revived.
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"active", "exited"}),
    "active": frozenset({"suspended", "graduated", "exited"}),
    "suspended": frozenset({"active", "graduated", "exited"}),
    "graduated": frozenset(),
    "exited": frozenset(),
}
OPENING_STATUSES = frozenset({"proposed", "active"})


async def _writable(session: AsyncSession, caller: Caller, family_id: uuid.UUID) -> Family:
    family = await get_family(session, caller, family_id, for_update=True)
    ensure_writable(caller, family.village_code)
    if family.archived_at is not None:
        raise Conflict("The family is archived.", code="archived")
    return family


async def enroll(
    session: AsyncSession, caller: Caller, family_id: uuid.UUID, data: EnrollmentCreate
) -> Enrollment:
    family = await _writable(session, caller, family_id)
    code = data.program_code.upper()
    if code not in await program_codes(session):
        raise ValidationFailed(
            errors=[FieldError("program_code", "unknown_program", "No program with that code.")]
        )
    if data.status.value not in OPENING_STATUSES:
        raise ValidationFailed(
            errors=[FieldError("status", "invalid_transition", "Enroll as proposed or active.")]
        )
    on_date = data.started_on or today()
    enrollment = Enrollment(
        family_id=family.id,
        program_code=code,
        status=data.status.value,
        started_on=on_date if data.status.value == "active" else data.started_on,
    )
    session.add(enrollment)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(
            "The family is already enrolled in that program.", code="already_enrolled"
        ) from None
    session.add(
        EnrollmentTransition(
            enrollment_id=enrollment.id,
            from_status=None,
            to_status=enrollment.status,
            on_date=on_date,
            by_client=caller.client_id,
        )
    )
    await _journal(session, caller, family, enrollment, None)
    return enrollment


async def change_enrollment(
    session: AsyncSession,
    caller: Caller,
    family_id: uuid.UUID,
    program_code: str,
    data: EnrollmentChange,
    *,
    if_match: int | None,
) -> Enrollment:
    family = await _writable(session, caller, family_id)
    enrollment = (
        await session.scalars(
            select(Enrollment)
            .where(
                col(Enrollment.family_id) == family.id,
                col(Enrollment.program_code) == program_code.upper(),
            )
            .with_for_update()
        )
    ).one_or_none()
    if enrollment is None:
        raise NotFound.of("enrollment")
    ensure_version(enrollment.version, if_match)
    target = data.status.value
    if target not in TRANSITIONS[enrollment.status]:
        raise Conflict(
            f"An enrollment that is {enrollment.status} cannot become {target}.",
            code="invalid_transition",
            params={"from": enrollment.status, "to": target},
        )
    on_date = data.on_date or today()
    if target == "graduated":
        if data.graduation_kind is None:
            raise ValidationFailed(
                errors=[FieldError("graduation_kind", "required", "Graduation needs its kind.")]
            )
        credited = data.credited_facilitator_id or family.facilitator_id
        await check_facilitator(session, caller, credited)
        enrollment.graduation_kind = data.graduation_kind.value
        enrollment.credited_facilitator_id = credited
    elif data.graduation_kind is not None:
        raise ValidationFailed(
            errors=[FieldError("graduation_kind", "not_allowed", "Only for graduation.")]
        )
    before = enrollment.status
    enrollment.status = target
    if target == "active" and enrollment.started_on is None:
        enrollment.started_on = on_date
    if target in ("graduated", "exited"):
        enrollment.ended_on = on_date
    enrollment.touch()
    session.add(
        EnrollmentTransition(
            enrollment_id=enrollment.id,
            from_status=before,
            to_status=target,
            on_date=on_date,
            reason=data.reason,
            by_client=caller.client_id,
        )
    )
    await session.flush()
    await _journal(session, caller, family, enrollment, before)
    return enrollment


async def _journal(
    session: AsyncSession,
    caller: Caller,
    family: Family,
    enrollment: Enrollment,
    before: str | None,
) -> None:
    # An enrollment is part of the family as others see it: the family's version moves too.
    await record_change(
        session,
        caller,
        family,
        action="enrollment",
        entity=ENTITY,
        region_code=family.village_code,
        changes={f"enrollment.{enrollment.program_code}": [before, enrollment.status]},
    )


async def enrollment_history(
    session: AsyncSession, caller: Caller, family_id: uuid.UUID, program_code: str
) -> list[EnrollmentTransition]:
    family = await get_family(session, caller, family_id)
    enrollment = (
        await session.scalars(
            select(Enrollment).where(
                col(Enrollment.family_id) == family.id,
                col(Enrollment.program_code) == program_code.upper(),
            )
        )
    ).one_or_none()
    if enrollment is None:
        raise NotFound.of("enrollment")
    return (await transitions_of(session, [enrollment.id])).get(enrollment.id, [])


async def transitions_of(
    session: AsyncSession, enrollment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[EnrollmentTransition]]:
    """The histories of any number of enrollments (of families already found visible) in one
    query, oldest first."""
    transitions: dict[uuid.UUID, list[EnrollmentTransition]] = defaultdict(list)
    if enrollment_ids:
        for transition in await session.scalars(
            select(EnrollmentTransition)
            .where(col(EnrollmentTransition.enrollment_id).in_(enrollment_ids))
            .order_by(col(EnrollmentTransition.at), col(EnrollmentTransition.id))
        ):
            transitions[transition.enrollment_id].append(transition)
    return transitions
