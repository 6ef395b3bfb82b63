from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from alembic import command
from service.connections import asyncpg_dsn
from service.migrations import alembic_config, head_revisions
from tests.conftest import create_database, drop_database


async def test_models_and_migrations_agree(database_url: str) -> None:
    # `alembic check`: autogenerate finds nothing to add, drop or alter.
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_downgrade_and_upgrade_round_trip(server_url: str) -> None:
    name = f"dinsos_roundtrip_{uuid.uuid4().hex[:8]}"
    url = await create_database(server_url, name)
    try:
        config = alembic_config(url)
        await asyncio.to_thread(command.upgrade, config, "head")
        await asyncio.to_thread(command.downgrade, config, "base")
        await asyncio.to_thread(command.upgrade, config, "head")
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            assert {await connection.fetchval("SELECT version_num FROM alembic_version")} == (
                head_revisions()
            )
        finally:
            await connection.close()
    finally:
        await drop_database(server_url, name)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_entry SET actor = 'someone else'", "DELETE FROM audit_entry"],
)
async def test_audit_trail_is_append_only(session: AsyncSession, statement: str) -> None:
    await session.execute(
        text(
            "INSERT INTO audit_entry (actor, action, entity, record_id)"
            " VALUES ('t', 'create', 'program', 'x')"
        )
    )
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(text(statement))
