"""`dinsos clients create|list|rotate-secret|revoke`, checked against the token endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from service.settings import get_settings


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _run(*args: str) -> str:
    # The command line runs its own event loop: give it a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


async def _token_status(http: httpx.AsyncClient, client_id: str, secret: str) -> int:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    return response.status_code


async def test_client_lifecycle_from_the_command_line(
    cli_env: None, http: httpx.AsyncClient
) -> None:
    name = f"SIDesa Guci {uuid.uuid4().hex[:6]}"
    created = json.loads(
        await _run(
            "clients", "create", "--name", name, "--region", "3328022001",
            "--scope", "kpm:read", "--scope", "kpm:write",
        )
    )  # fmt: skip
    assert created["region"] == "33.28.02.2001"
    assert created["scopes"] == ["kpm:read", "kpm:write"]
    client_id, secret = created["client_id"], created["client_secret"]
    assert await _token_status(http, client_id, secret) == 200

    listed = [line for line in (await _run("clients", "list")).splitlines() if client_id in line]
    assert len(listed) == 1
    assert name in listed[0]
    assert "active" in listed[0]
    assert secret not in listed[0]

    rotated = json.loads(await _run("clients", "rotate-secret", client_id))
    assert rotated["client_secret"] != secret
    assert await _token_status(http, client_id, secret) == 401
    assert await _token_status(http, client_id, rotated["client_secret"]) == 200

    assert "Revoked" in (await _run("clients", "revoke", client_id))
    assert await _token_status(http, client_id, rotated["client_secret"]) == 401
    assert "revoked" in next(
        line for line in (await _run("clients", "list")).splitlines() if client_id in line
    )


async def test_clients_list_starts_with_a_header_row(cli_env: None) -> None:
    first_line = (await _run("clients", "list")).splitlines()[0]
    assert first_line.split() == ["ID", "STATE", "REGION", "NAME", "SCOPES"]


def test_bad_input_is_refused_with_a_message(cli_env: None) -> None:
    unknown_scope = CliRunner().invoke(
        app, ["clients", "create", "--name", "x", "--scope", "kpm:everything"]
    )
    assert unknown_scope.exit_code == 1
    assert "kpm:everything" in unknown_scope.output

    unknown_region = CliRunner().invoke(app, ["clients", "create", "--name", "x", "--region", "99"])
    assert unknown_region.exit_code == 1
    assert "region" in unknown_region.output

    unknown_client = CliRunner().invoke(app, ["clients", "revoke", str(uuid.uuid4())])
    assert unknown_client.exit_code == 1


def test_clients_list_starts_without_sqlalchemy(database_url: str) -> None:
    """The list is a plain asyncpg query, so the command loads neither SQLAlchemy (half of a
    command's start-up) nor the token library."""
    script = (
        "import sys\n"
        "from cli.main import app\n"
        "try:\n"
        "    app(['clients', 'list'])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DINSOS_DATABASE_URL"}
    lines = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DATABASE_URL": database_url},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "REGION", "NAME", "SCOPES"]
    heavy = {"sqlalchemy", "sqlmodel", "jose", "cryptography"}
    assert [name for name in lines[-1].split() if name.split(".")[0] in heavy] == []
