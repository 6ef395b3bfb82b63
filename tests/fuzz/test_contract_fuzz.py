"""Schemathesis against a real `dinsos serve`: every REST operation of the OpenAPI document and
every GraphQL field, with a token of every scope bound to a regency, every check on (the
configuration is tests/fuzz/schemathesis.toml; what it lets through, and why, tests/fuzz/hooks.py).

A small budget here, inside `make test`: 5 cases per operation and phase, and every phase but
`coverage`, whose 4,000-odd boundary cases take about 50 s on their own. `make fuzz` runs the
same with a large one: ``DINSOS_FUZZ_MAX_EXAMPLES`` cases, ``DINSOS_FUZZ_PHASES`` every phase,
``DINSOS_FUZZ_SEED`` ``random``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from service.auth import clients as auth_clients
from service.auth.keys import token_keys
from service.auth.scopes import ALL_SCOPES
from service.auth.tokens import issue_token
from service.database import async_url, create_session_factory
from service.settings import Settings
from tests.conftest import PROJECT_ROOT, prepared_database
from tests.factories import (
    IssuedClient,
    cohort_body,
    disbursement_body,
    family_body,
    kube_group_body,
    money_headers,
    new_allocation,
    program_body,
)
from tests.test_serve import DINSOS, _free_port, _inherited_environment

ST = Path(sys.executable).parent / "st"
CONFIG = Path(__file__).parent / "schemathesis.toml"
JWT_KEY = "fuzzing-signing-key-not-a-secret-0123456789"
MAX_EXAMPLES = int(os.environ.get("DINSOS_FUZZ_MAX_EXAMPLES", "5"))
PHASES = os.environ.get("DINSOS_FUZZ_PHASES", "examples,fuzzing,stateful")
# Fixed inside `make test`, so that a run is repeatable; `make fuzz` draws a new one each time.
SEED = os.environ.get("DINSOS_FUZZ_SEED", "20261130")
# Whole minutes at the small budget; unbounded at a large one (`make fuzz`).
TIMEOUT = 300 if MAX_EXAMPLES <= 10 else None


def _start_logging_to(log: Path, environment: dict[str, str], port: int) -> subprocess.Popen[str]:
    with log.open("w") as output:
        return subprocess.Popen(
            [str(DINSOS), "serve", "--port", str(port)],
            env={**_inherited_environment(), **environment},
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _wait_ready(process: subprocess.Popen[str], port: int, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("the service did not become ready")


async def _client(database_url: str) -> IssuedClient:
    """A client of every scope bound to Kabupaten Tegal, and a token outliving the run."""
    engine = create_async_engine(async_url(database_url))
    try:
        async with create_session_factory(engine)() as session, session.begin():
            created = await auth_clients.create_client(
                session,
                auth_clients.operator(),
                name="schemathesis",
                scopes=sorted(ALL_SCOPES),
                region_code="33.28",
            )
        token = issue_token(
            token_keys(Settings(jwt_key=JWT_KEY)),
            client_id=created.client.id,
            scopes=created.client.scopes,
            region_code=created.client.region_code,
            secret_generation=created.client.secret_generation,
            ttl_seconds=24 * 3600,
        )
        return IssuedClient(str(created.client.id), created.secret, token, "33.28")
    finally:
        await engine.dispose()


async def _records(base: str, client: IssuedClient) -> dict[str, str]:
    """One record of each kind in the client's region, so the fuzzer reads and changes real
    ones, not only unknown ids (tests/fuzz/schemathesis.toml puts these in the paths)."""

    async def post(
        http: httpx.AsyncClient, path: str, body: dict[str, Any], **headers: str
    ) -> dict[str, Any]:
        response = await http.post(path, json=body, headers=headers or client.headers)
        assert response.status_code in (200, 201), response.text
        created: dict[str, Any] = response.json()
        return created

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        facilitator = await post(
            http,
            "/api/v1/facilitators",
            {"name": "Pendamping Bumijawa", "kind": "PKH", "region_code": "33.28.02"},
        )
        family = await post(http, "/api/v1/kpm", family_body())
        program = await post(http, "/api/v1/programs", program_body())
        allocation = await new_allocation(http, client)
        disbursement = await post(
            http,
            "/api/v1/disbursements",
            disbursement_body(allocation["id"], family["id"]),
            **money_headers(client),
        )
        group = await post(http, "/api/v1/kube", kube_group_body(family_ids=[family["id"]]))
        cohort = await post(http, "/api/v1/training-cohorts", cohort_body())
        # A participant and a subscription for the lists to show; their ids stay unfixed
        # (schemathesis.toml says why).
        await post(
            http,
            f"/api/v1/training-cohorts/{cohort['id']}/participants",
            {"member_id": family["members"][0]["id"]},
        )
        await post(http, "/api/v1/webhooks", {"url": "https://sidesa.example.go.id/hooks/dinsos"})
    return {
        "DINSOS_FUZZ_FACILITATOR_ID": facilitator["id"],
        "DINSOS_FUZZ_FAMILY_ID": family["id"],
        "DINSOS_FUZZ_PROGRAM_CODE": program["code"],
        "DINSOS_FUZZ_ALLOCATION_ID": allocation["id"],
        "DINSOS_FUZZ_DISBURSEMENT_ID": disbursement["id"],
        "DINSOS_FUZZ_GROUP_ID": group["id"],
        "DINSOS_FUZZ_COHORT_ID": cohort["id"],
        "DINSOS_FUZZ_SESSION_ID": cohort["sessions"][0]["id"],
    }


@pytest.fixture(scope="module")
async def fuzzed(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """The service on a database of its own (the fuzzer writes whatever it likes), and what
    `st` needs: a token, and the ids of records to fuzz."""
    async with prepared_database(server_url) as url:
        client = await _client(url)
        port = _free_port()
        # The log goes to a file: a long `make fuzz` would fill a pipe nobody reads meanwhile.
        log = tmp_path_factory.mktemp("fuzzed-log") / "serve.log"
        process = _start_logging_to(
            log,
            {
                "DATABASE_URL": url,
                "DINSOS_JWT_KEY": JWT_KEY,
                "DINSOS_DATA_DIR": str(tmp_path_factory.mktemp("fuzzed")),
                "DINSOS_CREATE_DEMO_CLIENT": "false",
                "DINSOS_MIGRATE_ON_START": "false",  # prepared above
                # The fuzzer subscribes webhooks to made-up https addresses: send nothing.
                "DINSOS_WEBHOOK_DISPATCHER": "false",
                # Hundreds of token requests a minute from one address: past the address rate
                # every one would be the same 429, and the endpoint itself would go untested
                # (the limit has tests of its own, tests/api/test_rate_limits.py).
                "DINSOS_RATE_LIMIT_TOKEN_PER_ADDRESS": "",
                "DINSOS_LOG_LEVEL": "WARNING",
            },
            port,
        )
        try:
            _wait_ready(process, port, log)
            base = f"http://127.0.0.1:{port}"
            yield base, {"DINSOS_FUZZ_TOKEN": client.token, **await _records(base, client)}
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        output = log.read_text()
        assert process.returncode == 0, output[-20_000:]
        # Every answer was a refusal or a success: nothing reached the error log either.
        assert '"level": "ERROR"' not in output, output[-20_000:]
        assert "Traceback" not in output, output[-20_000:]


@pytest.mark.parametrize("schema", ["/openapi.json", "/graphql"], ids=["rest", "graphql"])
def test_schemathesis_finds_nothing(fuzzed: tuple[str, dict[str, str]], schema: str) -> None:
    base, environment = fuzzed
    command = [str(ST), "--config-file", str(CONFIG), "run", base + schema]
    command += ["--max-examples", str(MAX_EXAMPLES), "--phases", PHASES]
    if SEED != "random":
        command += ["--seed", SEED]
    finished = subprocess.run(
        command,
        cwd=PROJECT_ROOT,  # where the hooks module is imported from
        env={**os.environ, **environment, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    # The report names each failure, its reason and a curl line to reproduce it (the token is
    # shown as [Filtered]).
    assert finished.returncode == 0, finished.stdout[-30_000:] + finished.stderr[-5_000:]
    ran = re.search(r"(\d+) generated, (\d+) passed", finished.stdout)
    assert ran is not None, finished.stdout[-5_000:]
    assert int(ran.group(2)) > 0
