"""``dinsos clients dci-sender add|list|remove``: once a client has registered sender ids, a
message with any other ``header.sender_id`` is refused (``err.sender_id.invalid``, 403), on the
synchronous and the asynchronous doors; removing them all lets any through again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from service.settings import get_settings
from tests.dci.messages import by_expression, by_id, header, search, send
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


async def test_a_client_sends_only_as_its_registered_sender_ids(
    cli_env: None, http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    client = await live_clients(region="33.26.06", scopes=["kpm:read"])
    await run("clients", "dci-sender", "add", client.client_id, "sidesa.example.org")
    await run("clients", "dci-sender", "add", client.client_id, "sidesa-backup")
    assert (await run("clients", "dci-sender", "list", client.client_id)).split() == [
        "sidesa.example.org",
        "sidesa-backup",
    ]
    for query in (by_id("NIK", "3326064101900021"), by_expression({"desil": 1})):
        mine = await send(http, "/registry/sync/search", search(query), client)
        assert mine.header["status"] == "succ"
        other = search(query, sender_id="pretender.example.org")
        refused = await send(http, "/registry/sync/search", other, client)
        assert (refused.status, refused.body["errors"][0]["code"]) == (
            403,
            "err.sender_id.invalid",
        )
    status = {
        "header": header("txn-status", 1, sender_id="pretender.example.org"),
        "message": {
            "transaction_id": "t-1",
            "txnstatus_request": {
                "reference_id": "r-1",
                "txn_type": "search",
                "attribute_type": "transaction_id",
                "attribute_value": "t-0",
            },
        },
    }
    refused = await send(http, "/registry/sync/txn/status", status, client)
    assert refused.body["errors"][0]["code"] == "err.sender_id.invalid"
    asynchronous = search(by_id("NIK", "3326064101900021"), sender_id="pretender.example.org")
    asynchronous["header"]["sender_uri"] = "https://sidesa.example.org/dci"
    refused = await send(http, "/registry/search", asynchronous, client)
    assert (refused.status, refused.body["errors"][0]["code"]) == (403, "err.sender_id.invalid")

    await run("clients", "dci-sender", "remove", client.client_id, "sidesa.example.org")
    await run("clients", "dci-sender", "remove", client.client_id, "sidesa-backup")
    anyone = search(by_id("NIK", "3326064101900021"), sender_id="pretender.example.org")
    assert (await send(http, "/registry/sync/search", anyone, client)).header["status"] == "succ"
