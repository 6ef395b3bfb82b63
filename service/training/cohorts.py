"""Training cohorts: create, read, list, change, sessions, and the status machine."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.training import CohortCreate, CohortTransitionIn, CohortUpdate, SessionIn
from service.access import Caller, ensure_writable, fetch_visible, visible_to
from service.errors import Conflict, ErrorList, FieldError, ValidationFailed
from service.journal import apply_update, field_changes, record_change, record_write
from service.kpm.families import check_facilitator
from service.lists import in_region, name_contains, page_by_last_change
from service.pagination import DEFAULT_LIMIT, Page
from service.programs.service import visible_programs
from service.programs.tables import Program
from service.regions.codes import parse_region_code
from service.regions.service import regions_exist
from service.training.tables import TrainingCohort, TrainingParticipant, TrainingSession
from service.training.views import CohortRecord
from service.versions import ensure_version

ENTITY = "training_cohort"
NOT_FOUND = "training cohort"

# A cohort runs once: completed and cancelled are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "planned": frozenset({"running", "cancelled"}),
    "running": frozenset({"completed", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}
# Sessions can be added until the cohort ends.
OPEN_STATUSES = frozenset({"planned", "running"})


# --- reading ---------------------------------------------------------------------------------


async def sessions_of(
    session: AsyncSession, cohort_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[TrainingSession]]:
    """Sessions of any number of cohorts in one query, by date."""
    sessions: dict[uuid.UUID, list[TrainingSession]] = defaultdict(list)
    if cohort_ids:
        for row in await session.scalars(
            select(TrainingSession)
            .where(col(TrainingSession.cohort_id).in_(cohort_ids))
            .order_by(col(TrainingSession.held_on))
        ):
            sessions[row.cohort_id].append(row)
    return sessions


async def participant_counts(
    session: AsyncSession, cohort_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not cohort_ids:
        return {}
    rows = await session.execute(
        select(col(TrainingParticipant.cohort_id), func.count())
        .where(col(TrainingParticipant.cohort_id).in_(cohort_ids))
        .group_by(col(TrainingParticipant.cohort_id))
    )
    return {cohort_id: count for cohort_id, count in rows}


async def load_records(
    session: AsyncSession, cohorts: Sequence[TrainingCohort]
) -> list[CohortRecord]:
    """Sessions and participant counts of a page of cohorts: two queries, whatever the page."""
    ids = [cohort.id for cohort in cohorts]
    sessions = await sessions_of(session, ids)
    counts = await participant_counts(session, ids)
    return [CohortRecord(c, sessions[c.id], counts.get(c.id, 0)) for c in cohorts]


def visible_cohorts(caller: Caller) -> Select[TrainingCohort]:
    """Cohorts held in the caller's region.
    The read by id and the list both start from it."""
    return select(TrainingCohort).where(
        visible_to(caller, col(TrainingCohort.region_code), national_rows_visible=False)
    )


async def get_cohort(
    session: AsyncSession, caller: Caller, cohort_id: uuid.UUID, *, for_update: bool = False
) -> TrainingCohort:
    return await fetch_visible(
        session, caller, visible_cohorts(caller).where(col(TrainingCohort.id) == cohort_id),
        entity=NOT_FOUND, scopes=("training:read", "training:write"), for_update=for_update,
    )  # fmt: skip


async def writable_cohort(
    session: AsyncSession, caller: Caller, cohort_id: uuid.UUID, if_match: int | None
) -> TrainingCohort:
    """The cohort locked for a change. Enrolment holds this lock while it counts, which is what
    keeps a cohort from going over capacity under concurrent requests."""
    cohort = await get_cohort(session, caller, cohort_id, for_update=True)
    ensure_writable(caller, cohort.region_code)
    if if_match is not None:
        ensure_version(cohort.version, if_match)
    return cohort


async def read_cohort(session: AsyncSession, caller: Caller, cohort_id: uuid.UUID) -> CohortRecord:
    (record,) = await load_records(session, [await get_cohort(session, caller, cohort_id)])
    return record


@dataclass
class CohortFilters:
    region: str | None = None
    status: str | None = None
    program: str | None = None
    topic: str | None = None
    updated_since: dt.datetime | None = None
    name: str | None = None


async def find_cohorts(
    session: AsyncSession,
    caller: Caller,
    filters: CohortFilters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[TrainingCohort]:
    """Cohorts held in the caller's region, ordered by last change (without sessions)."""
    caller.require("training:read")
    query = visible_cohorts(caller)
    if filters.region:
        query = query.where(in_region(col(TrainingCohort.region_code), filters.region))
    if filters.status:
        query = query.where(col(TrainingCohort.status) == filters.status)
    if filters.program:
        query = query.where(col(TrainingCohort.program_code) == filters.program.upper())
    if filters.topic:
        query = query.where(col(TrainingCohort.topic) == filters.topic)
    if filters.name:
        query = query.where(name_contains(col(TrainingCohort.name), filters.name))
    return await page_by_last_change(
        session,
        TrainingCohort,
        query,
        limit=limit,
        cursor=cursor,
        updated_since=filters.updated_since,
    )


async def list_cohorts(
    session: AsyncSession,
    caller: Caller,
    filters: CohortFilters,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[CohortRecord]:
    """Cohorts held in the caller's region with their sessions, ordered by last change."""
    page = await find_cohorts(session, caller, filters, limit=limit, cursor=cursor)
    return Page(items=await load_records(session, page.items), next_cursor=page.next_cursor)


# --- writing ---------------------------------------------------------------------------------


def _check_session_days(sessions: Sequence[SessionIn], errors: ErrorList) -> None:
    seen: set[dt.date] = set()
    for index, item in enumerate(sessions):
        if item.held_on in seen:
            errors.add(f"sessions.{index}.held_on", "duplicate_session", "One session a day.")
        seen.add(item.held_on)


def _snapshot(cohort: TrainingCohort) -> dict[str, Any]:
    return {
        name: getattr(cohort, name)
        for name in (
            "name",
            "program_code",
            "topic",
            "region_code",
            "venue",
            "capacity",
            "facilitator_id",
            "trainer_name",
            "status",
            "completion_threshold",
        )
    }


async def create_cohort(session: AsyncSession, caller: Caller, data: CohortCreate) -> CohortRecord:
    caller.require("training:write")
    errors = ErrorList()
    region = parse_region_code(data.region_code)
    if region is None or not await regions_exist(session, {region}):
        errors.add("region_code", "unknown_region", "No region with that code.")
    program = await session.scalar(
        visible_programs(caller).where(col(Program.code) == data.program_code.upper())
    )
    if program is None:
        errors.add("program_code", "unknown_program", "No program with that code.")
    _check_session_days(data.sessions, errors)
    errors.raise_if_any()
    assert region is not None
    assert program is not None
    ensure_writable(caller, region)
    await check_facilitator(session, caller, data.facilitator_id)
    cohort = TrainingCohort(
        name=data.name,
        program_code=program.code,
        topic=data.topic.value,
        region_code=region,
        venue=data.venue,
        capacity=data.capacity,
        facilitator_id=data.facilitator_id,
        trainer_name=data.trainer_name,
        completion_threshold=data.completion_threshold,
    )
    session.add(cohort)
    await session.flush()
    sessions = [
        TrainingSession(cohort_id=cohort.id, held_on=item.held_on, title=item.title)
        for item in data.sessions
    ]
    session.add_all(sessions)
    await session.flush()
    await record_write(
        session,
        caller,
        action="create",
        entity=ENTITY,
        record_id=cohort.id,
        region_code=cohort.region_code,
        version=cohort.version,
        changes=field_changes({}, _snapshot(cohort)) | {"sessions": [None, len(sessions)]},
    )
    return CohortRecord(cohort, sorted(sessions, key=lambda s: s.held_on), 0)


async def update_cohort(
    session: AsyncSession,
    caller: Caller,
    cohort_id: uuid.UUID,
    data: CohortUpdate,
    *,
    if_match: int | None,
) -> CohortRecord:
    cohort = await get_cohort(session, caller, cohort_id, for_update=True)
    ensure_writable(caller, cohort.region_code)
    ensure_version(cohort.version, if_match)
    sent = data.model_dump(mode="json", exclude_unset=True)
    errors = ErrorList()
    for name in ("name", "topic", "capacity", "completion_threshold"):
        if name in sent and sent[name] is None:
            errors.add(name, "required", "Cannot be emptied.")
    errors.raise_if_any()
    if "capacity" in sent:
        enrolled = (await participant_counts(session, [cohort.id])).get(cohort.id, 0)
        if sent["capacity"] < enrolled:
            raise Conflict(
                f"{enrolled} people are enrolled; the capacity cannot go below that.",
                code="capacity_below_participants",
                params={"participants": enrolled},
            )
    if "facilitator_id" in sent:
        await check_facilitator(session, caller, data.facilitator_id)
        sent["facilitator_id"] = data.facilitator_id
    await apply_update(
        session, caller, cohort, sent, snapshot=_snapshot, entity=ENTITY,
        region_of=lambda record: record.region_code,
    )  # fmt: skip
    (record,) = await load_records(session, [cohort])
    return record


async def add_session(
    session: AsyncSession,
    caller: Caller,
    cohort_id: uuid.UUID,
    data: SessionIn,
    *,
    if_match: int | None = None,
) -> CohortRecord:
    """A session is part of the cohort: the cohort gets a new version. Participants' totals grow
    with it, so a completion can turn back to incomplete until they attend."""
    cohort = await writable_cohort(session, caller, cohort_id, if_match)
    if cohort.status not in OPEN_STATUSES:
        raise Conflict(
            f"A {cohort.status} cohort takes no new sessions.",
            code="cohort_closed",
            params={"status": cohort.status},
        )
    row = TrainingSession(cohort_id=cohort.id, held_on=data.held_on, title=data.title)
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise ValidationFailed(
            errors=[FieldError("held_on", "duplicate_session", "The cohort meets that day.")]
        ) from None
    await record_change(
        session,
        caller,
        cohort,
        entity=ENTITY,
        region_code=cohort.region_code,
        changes={"sessions": ["add", data.held_on.isoformat()]},
    )
    (record,) = await load_records(session, [cohort])
    return record


async def change_status(
    session: AsyncSession,
    caller: Caller,
    cohort_id: uuid.UUID,
    data: CohortTransitionIn,
    *,
    if_match: int | None = None,
) -> CohortRecord:
    """planned -> running | cancelled; running -> completed | cancelled. A cohort starts
    running only with at least one session (completion is counted over its sessions)."""
    cohort = await writable_cohort(session, caller, cohort_id, if_match)
    target = data.to.value
    if target not in TRANSITIONS[cohort.status]:
        raise Conflict(
            f"A cohort that is {cohort.status} cannot become {target}.",
            code="invalid_transition",
            params={"from": cohort.status, "to": target},
        )
    if target == "running" and not (await sessions_of(session, [cohort.id]))[cohort.id]:
        raise Conflict("Add the cohort's sessions before it starts.", code="no_sessions")
    before = cohort.status
    cohort.status = target
    await record_change(
        session,
        caller,
        cohort,
        action="transition",
        entity=ENTITY,
        region_code=cohort.region_code,
        changes={"status": [before, target]} | ({"note": [None, data.note]} if data.note else {}),
    )
    (record,) = await load_records(session, [cohort])
    return record
