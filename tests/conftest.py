"""Test fixtures: a real PostgreSQL, migrated by Alembic, one rolled-back transaction per test.

The server is the embedded one (started in a temporary folder) unless ``TEST_DATABASE_URL``
names another; either way the run gets a fresh database of its own, dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from api.app import create_app
from service.auth import secrets
from service.connections import asyncpg_dsn
from service.database import (
    OneStatement,
    async_url,
    create_session_factory,
    driver_connection,
    one_statement_connections,
)
from service.embedded_database import EmbeddedPostgres
from service.runtime import load_reference_data, migrate
from service.settings import Settings
from tests import region_probes
from tests.factories import ClientFactory


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{region_probes.COVERAGE_MARK}: checks what the region matrix probed; runs last",
    )


def pytest_itemcollected(item: pytest.Item) -> None:
    # Everything that touches the database is marked, so CI can rerun exactly those
    # against a second PostgreSQL server (``-m db``). Marked as each test is collected: the
    # ``-m`` selection runs in the collection hook below, before a trylast hook would.
    if {"database_url", "server_url"} & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.db)


# trylast: after any plugin that reorders, so that the coverage checks stay at the end.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    region_probes.note_collected(config, items)
    region_probes.coverage_checks_last(items)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        region_probes.note_deselected(items[0].config, items)


@contextmanager
def server_folder() -> Iterator[Path]:
    """A data folder for an embedded server, outside pytest's temporary tree.

    The server runs as its own OS user when the tests run as root, and pytest resets its tree
    (``/tmp/pytest-of-USER``) to owner-only whenever another pytest session starts on the
    machine, which would lock that user out of a server it is running."""
    folder = Path(tempfile.mkdtemp(prefix="dinsos-test-pg-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def embedded_folder() -> Iterator[Path]:
    with server_folder() as folder:
        yield folder


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with server_folder() as folder:
        embedded = EmbeddedPostgres(folder)
        try:
            yield embedded.start()
        finally:
            embedded.stop()


def database_url_for(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def create_database(server_url: str, name: str) -> str:
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url_for(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def prepared_database(server_url: str) -> AsyncIterator[str]:
    """A fresh database, migrated to head, with the reference data loaded; dropped after."""
    name = f"dinsos_test_{uuid.uuid4().hex[:10]}"
    url = await create_database(server_url, name)
    try:
        await migrate(url)
        engine = create_async_engine(async_url(url))
        async with create_session_factory(engine)() as session, session.begin():
            await load_reference_data(session)
        await engine.dispose()
        yield url
    finally:
        await drop_database(server_url, name)


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        jwt_key="test-signing-key-that-is-long-enough-for-hs256",
        create_demo_client=False,
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(database_url), pool_size=20, max_overflow=10)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """The test's transaction: everything the test and its requests write is rolled back."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        if transaction.is_active:
            await transaction.rollback()


@pytest.fixture
def sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # Each request's "transaction" becomes a SAVEPOINT inside the test's transaction.
    return async_sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


def _app_on(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    read_sessions: async_sessionmaker[AsyncSession] | None = None,
    statements: OneStatement | None = None,
) -> FastAPI:
    app = create_app(settings, database_url=settings.database_url)
    # ASGITransport does not run the lifespan; the state it would set is provided here.
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.read_sessions = read_sessions or sessions
    app.state.statements = statements or _statements_in(sessions)
    return app


def _statements_in(sessions: async_sessionmaker[AsyncSession]) -> OneStatement:
    """Single statements in the test's world: in a (savepoint) transaction of ``sessions``,
    committed when the statement is done, as a statement outside a transaction would be."""

    @asynccontextmanager
    async def connection() -> AsyncIterator[asyncpg.Connection]:
        async with sessions() as session, session.begin():
            yield await driver_connection(session)

    return connection


@pytest.fixture
def read_sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # The GraphQL loaders read while a root field's savepoint may be open on the same
    # connection. Savepoints of their own could be released out of order; these sessions
    # read inside whatever transaction is open and never end it.
    return async_sessionmaker(
        bind=connection,
        join_transaction_mode="rollback_only",
        expire_on_commit=False,
        autoflush=False,
    )


@pytest.fixture
def app(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> FastAPI:
    return _app_on(settings, sessions, engine, read_sessions)


@pytest.fixture
async def own_app(server_url: str, settings: Settings) -> AsyncIterator[FastAPI]:
    """An app on a fresh database of its own, committed for real: for tests that count what a
    whole run wrote (imports, field stories) and must not see other tests' rows."""
    async with prepared_database(server_url) as url:
        engine = create_async_engine(async_url(url))
        sessions = create_session_factory(engine)
        try:
            yield _app_on(settings.model_copy(update={"database_url": url}), sessions, engine)
        finally:
            await engine.dispose()


@pytest.fixture
async def own_http(own_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=own_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def probe(app: FastAPI, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The door for the caller under test in a region matrix: like ``http``, but every request
    is recorded for the coverage checks (tests/region_probes.py). Setting up uses ``http``."""
    record = region_probes.record_of(request.config)
    record.ran.add(request.node.nodeid)

    async def note(sent: httpx.Request) -> None:
        record.add_sent(sent)

    transport = httpx.ASGITransport(
        app=region_probes.recording(app, record), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", event_hooks={"request": [note]}
    ) as client:
        yield client


@pytest.fixture
def clients(session: AsyncSession, app: FastAPI) -> ClientFactory:
    return ClientFactory(session, app.state.token_keys)


@pytest.fixture
def cheap_secret_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests that make a few clients each and never present their secrets (tokens are
    issued directly): a cheap Argon2id saves ~0.3 s a client without changing what is stored."""
    monkeypatch.setattr(
        secrets, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


# Committed data, for tests whose requests must really run in parallel on separate
# connections (a shared test transaction would serialise them). Such tests use unique codes.


@pytest.fixture
def live_app(settings: Settings, engine: AsyncEngine) -> FastAPI:
    sessions, statements = create_session_factory(engine), one_statement_connections(engine)
    return _app_on(settings, sessions, engine, statements=statements)


@pytest.fixture
async def live_http(live_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def live_clients(engine: AsyncEngine, live_app: FastAPI) -> AsyncIterator[ClientFactory]:
    async with create_session_factory(engine)() as session:
        yield ClientFactory(session, live_app.state.token_keys, commit=True)


PROJECT_ROOT = Path(__file__).resolve().parent.parent
