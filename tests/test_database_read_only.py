"""A server that turned read-only (a failover left the replica on the old primary, now a
standby): the statement answers as the other database faults do (503 with Retry-After, not
500), and both pools replace their connections, so the next statements reach a writable
server instead of each idle connection failing once (review of the statement pool)."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy.exc
from sqlalchemy import text

from service.database import create_engine, create_statement_pool, pooled_statements
from service.database_faults import is_database_unavailable
from service.settings import Settings

# A write that a read-only session refuses (SQLSTATE 25006) before it changes anything.
WRITE = "CREATE TABLE read_only_probe (x int)"


async def test_statement_pool_answers_a_read_only_server_as_unavailable_and_reconnects(
    database_url: str, settings: Settings
) -> None:
    one = settings.model_copy(update={"db_statement_pool_size": 1})
    pool = await create_statement_pool(database_url, one)
    statements = pooled_statements(pool, one)
    try:
        # The pool's one connection turns read-only (as on a standby), and stays so: nothing
        # resets a pooled connection's session on return.
        async with statements() as connection:
            await connection.execute("SET default_transaction_read_only = on")
        with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError) as refused:
            async with statements() as connection:
                await connection.execute(WRITE)
        assert is_database_unavailable(refused.value)

        async with statements() as connection:
            assert await connection.fetchval("SHOW default_transaction_read_only") == "off"
    finally:
        await pool.close()


async def test_engine_answers_a_read_only_server_as_unavailable_and_reconnects(
    database_url: str, settings: Settings
) -> None:
    one = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0})
    engine = create_engine(database_url, one)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SET default_transaction_read_only = on"))
            await connection.commit()
        with pytest.raises(sqlalchemy.exc.DBAPIError) as refused:
            async with engine.connect() as connection:
                await connection.execute(text(WRITE))
        assert is_database_unavailable(refused.value)

        async with engine.connect() as connection:
            shown = await connection.scalar(text("SHOW default_transaction_read_only"))
        assert shown == "off"
    finally:
        await engine.dispose()
