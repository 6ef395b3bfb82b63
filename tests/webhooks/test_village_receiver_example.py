"""The README's village receiver (``examples/village_receiver.py``), run as the village system
would run it, keeps an exact copy of its village's families from webhooks alone: families
created, changed, moved out of and into the village and archived, each message verified, the
copy equal to the village's list at the end. The README shows that very file."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import ClientFactory, family_body
from tests.webhooks.conftest import VILLAGE, DispatcherRunner, subscribe

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")

ROOT = Path(__file__).resolve().parents[2]
RECEIVER = ROOT / "examples" / "village_receiver.py"
NEIGHBOUR = "33.28.02.2002"


def test_the_readme_shows_the_receiver_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text()
    assert RECEIVER.read_text().strip() in readme


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def village_system(tmp_path: Path) -> tuple[int, Path]:
    """The port the receiver will listen on, and its copy file (the receiver is started by the
    test, once the subscription's secret is known)."""
    return _free_port(), tmp_path / "copy.json"


async def _wait_for_port(port: int) -> None:
    async with asyncio.timeout(10):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)


async def _village_list(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await http.get(
        "/api/v1/kpm", params={"village_code": VILLAGE, "limit": 500}, headers=headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _live_copy(copy_file: Path) -> dict[str, dict[str, Any]]:
    if not copy_file.exists():
        return {}
    records = json.loads(copy_file.read_text())["records"]
    return {
        key.split("/", 1)[1]: record
        for key, record in records.items()
        if key.startswith("kpm/") and record["archived_at"] is None
    }


async def test_the_example_receiver_keeps_its_village_from_webhooks(
    committed: async_sessionmaker[AsyncSession],
    api: tuple[httpx.AsyncClient, ClientFactory],
    dispatching: DispatcherRunner,
    village_system: tuple[int, Path],
) -> None:
    http, clients = api
    port, copy_file = village_system
    subscription = await subscribe(
        committed,
        f"http://127.0.0.1:{port}/dinsos",
        scopes=("changes:read", "webhooks:manage", "kpm:read"),
    )
    assert subscription.secret is not None  # a webhook subscription's (DCI channels have none)
    environment = {
        **os.environ,
        "DINSOS_WEBHOOK_SECRET": subscription.secret,
        "COPY_FILE": str(copy_file),
    }
    receiver = subprocess.Popen([sys.executable, str(RECEIVER), str(port)], env=environment)
    try:
        await _wait_for_port(port)
        office = await clients(region="33.28", scopes=["kpm:read", "kpm:write"])
        village = await clients(region=VILLAGE, scopes=["kpm:read"])

        async def post(url: str, body: dict[str, Any], version: int | None = None) -> Any:
            headers = office.headers | ({"If-Match": f'"{version}"'} if version else {})
            method = "PATCH" if version else "POST"
            response = await http.request(method, url, json=body, headers=headers)
            assert response.status_code in (200, 201), response.text
            return response.json()

        async with dispatching():
            made = [await post("/api/v1/kpm", family_body(VILLAGE)) for _ in range(4)]
            newcomer = await post("/api/v1/kpm", family_body(NEIGHBOUR))
            await post(f"/api/v1/kpm/{made[0]['id']}", {"address": "RT 09 RW 01"}, 1)
            await post(f"/api/v1/kpm/{made[1]['id']}", {"village_code": NEIGHBOUR}, 1)
            await post(f"/api/v1/kpm/{newcomer['id']}", {"village_code": VILLAGE}, 1)
            archived = await http.post(
                f"/api/v1/kpm/{made[2]['id']}/archive",
                json={"reason": "pindah"},
                headers=office.headers | {"If-Match": '"1"'},
            )
            assert archived.status_code == 200, archived.text

            listed = {family["id"]: family for family in await _village_list(http, village.headers)}
            async with asyncio.timeout(60):
                while _live_copy(copy_file) != listed:
                    await asyncio.sleep(0.1)
    finally:
        receiver.terminate()
        receiver.wait(10)

    assert set(listed) == {made[0]["id"], made[3]["id"], newcomer["id"]}
    assert listed[made[0]["id"]]["address"] == "RT 09 RW 01"
    kept = json.loads(copy_file.read_text())["records"]
    assert f"kpm/{made[1]['id']}" not in kept  # moved away: the tombstone removed it
    assert kept[f"kpm/{made[2]['id']}"]["archived_at"] is not None
