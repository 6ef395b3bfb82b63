"""The benchmark's database: a fresh one, migrated, with the reference data, an API client and
seeded families. On ``BENCH_DATABASE_URL`` (or ``DATABASE_URL``) when set, otherwise on an
embedded PostgreSQL started in a temporary folder."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.auth.clients import create_client, operator
from service.auth.scopes import ALL_SCOPES
from service.connections import asyncpg_dsn
from service.database import async_url, create_session_factory
from service.embedded_database import EmbeddedPostgres
from service.runtime import load_reference_data, migrate


@dataclass
class BenchDatabase:
    server_url: str
    name: str
    url: str
    embedded: EmbeddedPostgres | None
    keep: bool

    @property
    def dsn(self) -> str:
        """For ``asyncpg.connect`` / ``create_pool``."""
        return asyncpg_dsn(self.url)

    @property
    def where(self) -> str:
        if self.embedded is not None:
            return "embedded PostgreSQL (temporary folder)"
        parsed = make_url(self.server_url)
        return f"{parsed.host or 'local socket'}:{parsed.port or 5432}"


async def open_database(configured_url: str | None, *, keep: bool = False) -> BenchDatabase:
    embedded: EmbeddedPostgres | None = None
    if configured_url:
        server_url = configured_url
    else:
        # A short path: the server's Unix socket lives in this folder (108-byte limit).
        folder = Path(tempfile.mkdtemp(prefix="dinsos-bench-"))
        embedded = EmbeddedPostgres(folder)
        server_url = embedded.start()
    name = f"dinsos_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return BenchDatabase(server_url, name, url, embedded, keep)


async def close_database(database: BenchDatabase) -> None:
    try:
        if not database.keep:
            admin = await asyncpg.connect(asyncpg_dsn(database.server_url))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
            finally:
                await admin.close()
    finally:
        if database.embedded is not None:
            database.embedded.stop()


def engine_for(database: BenchDatabase) -> AsyncEngine:
    return create_async_engine(async_url(database.url))


async def prepare(database: BenchDatabase) -> None:
    """Migrations to head and the reference data, as ``dinsos migrate`` does."""
    await migrate(database.url)
    engine = engine_for(database)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await load_reference_data(session)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str


async def create_bench_client(
    database: BenchDatabase, *, name: str, scopes: list[str] | None = None
) -> ClientCredentials:
    """A national client, as an operator creates it with ``dinsos clients create``."""
    engine = engine_for(database)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            created = await create_client(
                session,
                operator(),
                name=name,
                scopes=sorted(ALL_SCOPES) if scopes is None else scopes,
                region_code=None,
            )
            return ClientCredentials(str(created.client.id), created.secret)
    finally:
        await engine.dispose()


async def server_version(database: BenchDatabase) -> str:
    connection = await asyncpg.connect(database.dsn)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


REGISTRY_TABLES = (
    "kpm_enrollment_transition",
    "kpm_enrollment",
    "kpm_verification",
    "kpm_member",
    "kpm_family",
)


async def empty_registry(database: BenchDatabase) -> None:
    """No families at all (the audit trail is append-only and stays), then a checkpoint, so
    that each side of a bulk pair starts from the same empty tables and clean buffers."""
    connection = await asyncpg.connect(database.dsn)
    try:
        await connection.execute(f"TRUNCATE {', '.join(REGISTRY_TABLES)} CASCADE")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def checkpoint(database: BenchDatabase) -> None:
    connection = await asyncpg.connect(database.dsn)
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()
