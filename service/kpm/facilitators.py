"""Facilitators (pendamping): who mentors families in which area, and their yearly target."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.kpm import FacilitatorCreate, FacilitatorOut, FacilitatorUpdate
from service.access import Caller, ensure_writable, fetch_visible, visible_to, within
from service.errors import FieldError, ValidationFailed
from service.journal import apply_update, field_changes, record_write
from service.kpm.tables import Facilitator
from service.lists import page_by_column
from service.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
)
from service.regions.codes import parse_region_code
from service.regions.service import regions_exist
from service.versions import ensure_version

ENTITY = "facilitator"


def present_facilitator(facilitator: Facilitator) -> FacilitatorOut:
    return FacilitatorOut.model_validate(facilitator, from_attributes=True)


async def _area(session: AsyncSession, raw: str) -> str:
    region = parse_region_code(raw)
    if region is None or not await regions_exist(session, {region}):
        raise ValidationFailed(
            errors=[FieldError("region_code", "unknown_region", "No region with that code.")]
        )
    return region


def _snapshot(facilitator: Facilitator) -> dict[str, Any]:
    return {
        name: getattr(facilitator, name)
        for name in ("name", "kind", "region_code", "active", "yearly_target")
    }


async def create_facilitator(
    session: AsyncSession, caller: Caller, data: FacilitatorCreate
) -> Facilitator:
    caller.require("facilitators:write")
    region = await _area(session, data.region_code)
    ensure_writable(caller, region)
    facilitator = Facilitator(
        **data.model_dump(mode="json", exclude={"region_code"}), region_code=region
    )
    session.add(facilitator)
    await session.flush()
    await record_write(
        session,
        caller,
        action="create",
        entity=ENTITY,
        record_id=facilitator.id,
        region_code=region,
        version=facilitator.version,
        changes=field_changes({}, _snapshot(facilitator)),
    )
    return facilitator


def visible_facilitators(caller: Caller) -> Select[Facilitator]:
    """Facilitators working in the caller's region.
    The read by id and the list both start from it."""
    return select(Facilitator).where(
        visible_to(caller, col(Facilitator.region_code), national_rows_visible=False)
    )


async def get_facilitator(
    session: AsyncSession, caller: Caller, facilitator_id: uuid.UUID, *, for_update: bool = False
) -> Facilitator:
    return await fetch_visible(
        session, caller, visible_facilitators(caller).where(col(Facilitator.id) == facilitator_id),
        entity=ENTITY, scopes=("facilitators:read", "facilitators:write"),
        for_update=for_update,
    )  # fmt: skip


async def list_facilitators(
    session: AsyncSession,
    caller: Caller,
    *,
    region: str | None = None,
    active: bool | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Facilitator]:
    caller.require("facilitators:read")
    check_limit(limit)
    query = visible_facilitators(caller)
    if region:
        area = parse_region_code(region)
        if area is None:
            raise ValidationFailed(
                errors=[FieldError("region", "invalid_region_code", "Not a region code.")]
            )
        query = query.where(within(col(Facilitator.region_code), area))
    if active is not None:
        query = query.where(col(Facilitator.active) == active)
    return await page_by_column(
        session, query, col(Facilitator.id), limit=limit, cursor=cursor or None, convert=uuid.UUID
    )


async def update_facilitator(
    session: AsyncSession,
    caller: Caller,
    facilitator_id: uuid.UUID,
    data: FacilitatorUpdate,
    *,
    if_match: int | None,
) -> Facilitator:
    facilitator = await get_facilitator(session, caller, facilitator_id, for_update=True)
    ensure_writable(caller, facilitator.region_code)
    ensure_version(facilitator.version, if_match)
    sent = data.model_dump(mode="json", exclude_unset=True)
    for name in ("name", "kind", "active"):
        if name in sent and sent[name] is None:
            raise ValidationFailed(errors=[FieldError(name, "required", "Cannot be emptied.")])
    if sent.get("region_code") is not None:
        sent["region_code"] = await _area(session, sent["region_code"])
        ensure_writable(caller, sent["region_code"])
    elif "region_code" in sent:
        raise ValidationFailed(errors=[FieldError("region_code", "required", "Cannot be emptied.")])
    await apply_update(
        session, caller, facilitator, sent, snapshot=_snapshot, entity=ENTITY,
        region_of=lambda record: record.region_code,
    )  # fmt: skip
    return facilitator
