"""The records a change event carries: each published record type, loaded by id as the REST read
of it shows it, through the presenter that read uses (so the feed's copy and the read can never
differ), unmasked: the feed masks per reader.

The journal calls ``current_records`` for every published write that brings no record of its
own, set-based: one load per record type, whatever the number of writes. A record that no
longer exists (a withdrawn participant) is simply not in the answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.allocations.service import present_allocation
from service.allocations.tables import Allocation
from service.disbursements.queries import present_disbursement
from service.disbursements.tables import Disbursement
from service.kpm import families
from service.kpm.facilitators import present_facilitator
from service.kpm.tables import Facilitator, Family
from service.kpm.views import family_out
from service.kube import groups
from service.kube.tables import KubeGrant, KubeGroup
from service.kube.views import present_grant, present_group
from service.programs.service import present_program
from service.programs.tables import Program
from service.records import RecordColumns
from service.training import cohorts, participants
from service.training.tables import TrainingCohort, TrainingParticipant
from service.training.views import present_cohort, present_participant

# Record id (as the journal writes it) -> the record as its REST read shows it.
Records = dict[str, BaseModel]
Loader = Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[Records]]

T = TypeVar("T", bound=RecordColumns)


async def _rows(session: AsyncSession, table: type[T], ids: Sequence[uuid.UUID]) -> list[T]:
    # Fresh from the database: bulk writes (COPY, UPDATE ... FROM unnest) bypass the session,
    # and what goes out must be what a read after the write would see.
    query = select(table).where(col(table.id).in_(ids)).execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())


async def _families(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Records:
    records = await families.load_records(session, await _rows(session, Family, ids))
    return {
        str(r.family.id): family_out(r.family, r.members, r.enrollments, unmasked=True)
        for r in records
    }


async def _groups(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Records:
    records = await groups.load_records(session, await _rows(session, KubeGroup, ids))
    return {str(record.group.id): present_group(record) for record in records}


async def _cohorts(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Records:
    records = await cohorts.load_records(session, await _rows(session, TrainingCohort, ids))
    return {str(record.cohort.id): present_cohort(record) for record in records}


async def _participants(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Records:
    wanted = {str(i) for i in ids}
    people = await _rows(session, TrainingParticipant, ids)
    by_cohort = await participants.participants_of(
        session, sorted({person.cohort_id for person in people})
    )
    return {
        str(record.participant.id): present_participant(record)
        for records in by_cohort.values()
        for record in records
        if str(record.participant.id) in wanted
    }


def _each(
    table: type[T], present: Callable[[T], BaseModel]
) -> Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[Records]]:
    """The loader of a record type that is presented from its row alone. Plain rows, not ORM
    objects (the presenters read attributes, which a row has too): a batch of 10,000 payments
    loads its records in a fraction of the time."""
    columns = table.__table__  # type: ignore[attr-defined]

    async def load(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Records:
        await session.flush()
        rows = await session.execute(select(columns).where(columns.c.id.in_(ids)))
        return {str(row.id): present(cast(T, row)) for row in rows}

    return load


# Every type of ``service.changes.feed.ENTITY_TYPES``; a test holds the two lists equal.
LOADERS: dict[str, Loader] = {
    "allocation": _each(Allocation, present_allocation),
    "disbursement": _each(Disbursement, present_disbursement),
    "facilitator": _each(Facilitator, present_facilitator),
    "kpm": _families,
    "kube": _groups,
    "kube_grant": _each(KubeGrant, present_grant),
    "program": _each(Program, present_program),
    "training_cohort": _cohorts,
    "training_participant": _participants,
}


async def current_records(
    session: AsyncSession, entity: str, record_ids: Collection[object]
) -> Records:
    """The records of ``entity`` with these ids as their REST read shows them now, by id (as
    text); the ids of records that no longer exist are left out."""
    load = LOADERS.get(entity)
    if load is None or not record_ids:
        return {}
    return await load(session, sorted({uuid.UUID(str(record_id)) for record_id in record_ids}))
