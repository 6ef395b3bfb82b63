"""``dinsos clients dci-key add|list|revoke``: an operator registers a client's public key, the
client's messages must then be signed with it, and a revoked key is listed as such."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from cli.main import app
from service.dci.signatures import public_jwk
from service.settings import get_settings
from tests.dci.messages import by_id, search, send, signed
from tests.factories import ClientFactory


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def run(*args: str) -> str:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_an_operator_registers_lists_and_revokes_a_key(
    cli_env: None, http: httpx.AsyncClient, live_clients: ClientFactory, tmp_path: Path
) -> None:
    client = await live_clients(region="33.26.06", scopes=["kpm:read"])
    key = ed25519.Ed25519PrivateKey.generate()
    jwk_file = tmp_path / "sidesa.jwk"
    jwk_file.write_text(json.dumps(public_jwk(key.public_key())))

    added = json.loads(
        await run("clients", "dci-key", "add", client.client_id, "--key-id", "k1",
                  "--jwk", str(jwk_file))
    )  # fmt: skip
    assert added == {"client_id": client.client_id, "key_id": "k1", "algorithm": "ed25519"}
    assert (await run("clients", "dci-key", "list", client.client_id)).split() == [
        "k1", "ed25519", "active",
    ]  # fmt: skip

    body = search(by_id("NIK", "3326064101900021"))
    unsigned = await send(http, "/registry/sync/search", body, client)
    assert unsigned.body["errors"][0]["code"] == "err.signature.missing"
    answer = await send(http, "/registry/sync/search", signed(body, key), client)
    assert answer.header["status"] == "succ"

    await run("clients", "dci-key", "revoke", client.client_id, "k1")
    assert (await run("clients", "dci-key", "list", client.client_id)).split()[-1] == "revoked"
