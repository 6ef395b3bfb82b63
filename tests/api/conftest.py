"""Fixtures of the field stories: each story runs on a database of its own, so the report
figures it reads are exact."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.api.field_office import Office
from tests.factories import ClientFactory


@pytest.fixture
async def office_of(
    own_app: FastAPI,
) -> AsyncIterator[Callable[[str | None], Awaitable[Office]]]:
    transport = httpx.ASGITransport(app=own_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://story") as http:

        async def office(region: str | None) -> Office:
            async with own_app.state.sessions() as session:
                client = await ClientFactory(session, own_app.state.token_keys, commit=True)(
                    region=region
                )
            return Office(http, client)

        yield office
