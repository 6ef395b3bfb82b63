"""Field verification (verval): dated visits with an outcome; the family shows the latest."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.kpm import VerificationIn
from service.access import Caller, ensure_writable
from service.errors import FieldError, ValidationFailed
from service.journal import record_change
from service.kpm.families import ENTITY, check_facilitator, get_family, today
from service.kpm.tables import Verification


async def record_verification(
    session: AsyncSession, caller: Caller, family_id: uuid.UUID, data: VerificationIn
) -> Verification:
    """Visits may be recorded late and out of order: the family's status is the outcome of the
    visit with the latest date, whatever order they arrive in."""
    family = await get_family(session, caller, family_id, for_update=True)
    ensure_writable(caller, family.village_code)
    if data.visited_on > today():
        raise ValidationFailed(
            errors=[FieldError("visited_on", "invalid_value", "The visit date is in the future.")]
        )
    await check_facilitator(session, caller, data.facilitator_id)
    visit = Verification(
        family_id=family.id,
        visited_on=data.visited_on,
        outcome=data.outcome.value,
        facilitator_id=data.facilitator_id,
        notes=data.notes,
        recorded_by=caller.client_id,
    )
    session.add(visit)
    await session.flush()
    latest = (
        await session.scalars(
            select(Verification)
            .where(col(Verification.family_id) == family.id)
            .order_by(col(Verification.visited_on).desc(), col(Verification.recorded_at).desc())
            .limit(1)
        )
    ).one()
    before = family.verification_status
    if latest.outcome != before:
        family.verification_status = latest.outcome
    await record_change(
        session,
        caller,
        family,
        action="verify",
        entity=ENTITY,
        region_code=family.village_code,
        changes={
            "verification": [None, f"{visit.visited_on.isoformat()} {visit.outcome}"],
            "verification_status": [before, family.verification_status],
        },
    )
    return visit


async def list_verifications(
    session: AsyncSession, caller: Caller, family_id: uuid.UUID
) -> list[Verification]:
    family = await get_family(session, caller, family_id)
    return (await verifications_of(session, [family.id])).get(family.id, [])


async def verifications_of(
    session: AsyncSession, family_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Verification]]:
    """The visits of any number of families (already found visible) in one query, latest
    first."""
    visits: dict[uuid.UUID, list[Verification]] = defaultdict(list)
    if family_ids:
        for visit in await session.scalars(
            select(Verification)
            .where(col(Verification.family_id).in_(family_ids))
            .order_by(col(Verification.visited_on).desc(), col(Verification.recorded_at).desc())
        ):
            visits[visit.family_id].append(visit)
    return visits
