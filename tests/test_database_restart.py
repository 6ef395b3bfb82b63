"""A database restart under a running service: requests on connections the server dropped are
answered 503 with Retry-After (never 500) and change nothing; the retry goes through. No write is
lost and none is done twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from service.database import create_engine, create_session_factory
from service.embedded_database import EmbeddedPostgres
from service.runtime import load_reference_data, migrate
from service.settings import Settings
from tests.factories import ClientFactory, program_body


@pytest.fixture
async def own_server(embedded_folder: Path) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(embedded_folder)
    url = server.start()
    await migrate(url)
    yield server
    server.stop()


async def test_writes_across_a_restart(own_server: EmbeddedPostgres, tmp_path: Path) -> None:
    url = own_server.start()  # joins the running server: same URL
    settings = Settings(database_url=url, data_dir=tmp_path, jwt_key="r" * 40)
    app = create_app(settings, database_url=url)
    engine = create_engine(url, settings)
    app.state.engine = engine
    app.state.sessions = create_session_factory(engine)
    async with app.state.sessions() as session, session.begin():
        await load_reference_data(session)
    async with app.state.sessions() as session:
        client = await ClientFactory(session, app.state.token_keys, commit=True)()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://restart") as http:
        before = program_body()
        assert (
            await http.post("/api/v1/programs", json=before, headers=client.headers)
        ).status_code == 201

        own_server.stop()
        own_server.start()

        after = program_body()
        statuses = []
        for _ in range(3):
            response = await http.post("/api/v1/programs", json=after, headers=client.headers)
            statuses.append(response.status_code)
            if response.status_code != 503:
                break
            assert response.headers["retry-after"] == "5"
            assert response.json()["code"] == "database_unavailable"
        assert statuses[-1] == 201, statuses
        assert set(statuses) <= {201, 503}

        listed = await http.get("/api/v1/programs?limit=500", headers=client.headers)
        codes = [item["code"] for item in listed.json()["items"]]
        assert codes.count(before["code"]) == 1
        assert codes.count(after["code"]) == 1
    await engine.dispose()
