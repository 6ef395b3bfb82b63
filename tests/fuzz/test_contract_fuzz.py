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
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from service.auth import clients as auth_clients
from service.auth.keys import token_keys
from service.auth.scopes import ALL_SCOPES
from service.auth.tokens import issue_token
from service.database import async_url, create_session_factory
from service.settings import Settings
from tests.conftest import PROJECT_ROOT, prepared_database
from tests.test_serve import _free_port, _start, _stop, _wait_ready

ST = Path(sys.executable).parent / "st"
CONFIG = Path(__file__).parent / "schemathesis.toml"
JWT_KEY = "fuzzing-signing-key-not-a-secret-0123456789"
MAX_EXAMPLES = int(os.environ.get("DINSOS_FUZZ_MAX_EXAMPLES", "5"))
PHASES = os.environ.get("DINSOS_FUZZ_PHASES", "examples,fuzzing,stateful")
# Fixed inside `make test`, so that a run is repeatable; `make fuzz` draws a new one each time.
SEED = os.environ.get("DINSOS_FUZZ_SEED", "20261130")
# Whole minutes at the small budget; unbounded at a large one (`make fuzz`).
TIMEOUT = 300 if MAX_EXAMPLES <= 10 else None


async def _token(database_url: str) -> str:
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
        return issue_token(
            token_keys(Settings(jwt_key=JWT_KEY)),
            client_id=created.client.id,
            scopes=created.client.scopes,
            region_code=created.client.region_code,
            secret_generation=created.client.secret_generation,
            ttl_seconds=24 * 3600,
        )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def fuzzed(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, str]]:
    """The service on a database of its own (the fuzzer writes whatever it likes), and a token."""
    async with prepared_database(server_url) as url:
        token = await _token(url)
        port = _free_port()
        process = _start(
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
            _wait_ready(process, port)
            yield f"http://127.0.0.1:{port}", token
        finally:
            _stop(process)


@pytest.mark.parametrize("schema", ["/openapi.json", "/graphql"], ids=["rest", "graphql"])
def test_schemathesis_finds_nothing(fuzzed: tuple[str, str], schema: str) -> None:
    base, token = fuzzed
    command = [str(ST), "--config-file", str(CONFIG), "run", base + schema]
    command += ["--max-examples", str(MAX_EXAMPLES), "--phases", PHASES]
    if SEED != "random":
        command += ["--seed", SEED]
    finished = subprocess.run(
        command,
        cwd=PROJECT_ROOT,  # where the hooks module is imported from
        env={**os.environ, "DINSOS_FUZZ_TOKEN": token, "NO_COLOR": "1"},
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
