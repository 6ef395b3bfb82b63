"""Fixtures of the field stories: each story runs on a database of its own, so the report
figures it reads are exact."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from service.database import async_url, create_session_factory
from service.settings import Settings
from tests.api.field_office import Office
from tests.conftest import prepared_database
from tests.factories import ClientFactory


@pytest.fixture
async def story_app(server_url: str, settings: Settings) -> AsyncIterator[FastAPI]:
    async with prepared_database(server_url) as url:
        engine = create_async_engine(async_url(url))
        app = create_app(settings.model_copy(update={"database_url": url}), database_url=url)
        app.state.engine = engine
        app.state.sessions = create_session_factory(engine)
        try:
            yield app
        finally:
            await engine.dispose()


@pytest.fixture
async def office_of(
    story_app: FastAPI,
) -> AsyncIterator[Callable[[str | None], Awaitable[Office]]]:
    transport = httpx.ASGITransport(app=story_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://story") as http:

        async def office(region: str | None) -> Office:
            async with story_app.state.sessions() as session:
                client = await ClientFactory(session, story_app.state.token_keys, commit=True)(
                    region=region
                )
            return Office(http, client)

        yield office
