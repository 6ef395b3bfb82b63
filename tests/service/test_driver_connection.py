"""A statement sent straight to the driver (COPY, unnest) runs in the session's transaction,
also as the transaction's first statement: a rolled-back bulk write leaves nothing behind."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.database import create_session_factory, driver_connection


async def test_a_first_statement_to_the_driver_is_rolled_back_with_the_session(
    engine: AsyncEngine,
) -> None:
    sessions = create_session_factory(engine)
    record_id = str(uuid.uuid4())
    async with sessions() as session:
        await session.begin()
        raw = await driver_connection(session)
        await raw.execute(
            "INSERT INTO audit_entry (actor, action, entity, record_id)"
            " VALUES ('test', 'create', 'kpm', $1)",
            record_id,
        )
        await session.rollback()
    async with sessions() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(col(AuditEntry.record_id) == record_id)
        )
    assert left == 0
