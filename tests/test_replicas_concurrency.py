"""Two `dinsos serve` processes on one database behave as one: the concurrency proofs of
tests/api (the budget race, the NIK race, idempotent retries), with the requests alternating
between the two processes and sent at once. What keeps them right lives in PostgreSQL (row
locks, CHECK constraints, partial unique indexes, the idempotency key's row), never in a
process's memory."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.auth.keys import token_keys
from service.database import async_url, create_session_factory
from service.settings import Settings
from tests.conftest import prepared_database
from tests.factories import (
    ClientFactory,
    IssuedClient,
    allocation_body,
    committed_families,
    disbursement_body,
    family_body,
    member_body,
    money_headers,
    program_body,
)
from tests.test_client_changes_replicas import _wait_listening
from tests.test_serve import _free_port, _start, _stop, _wait_ready

pytestmark = pytest.mark.db

JWT_KEY = "replicas-signing-key-not-a-secret-0123456789"


@pytest.fixture(scope="module")
async def shared_database(server_url: str) -> AsyncIterator[str]:
    async with prepared_database(server_url) as url:
        yield url


@pytest.fixture(scope="module")
def replicas(shared_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two processes, as two replicas behind a load balancer are: one database, one signing
    key, nothing else shared."""
    processes: list[tuple[subprocess.Popen[str], int]] = []
    try:
        for number in (1, 2):
            port = _free_port()
            environment = {
                "DATABASE_URL": shared_database,
                "DINSOS_JWT_KEY": JWT_KEY,
                "DINSOS_DATA_DIR": str(tmp_path_factory.mktemp(f"replica{number}")),
                "DINSOS_CREATE_DEMO_CLIENT": "false",
                "DINSOS_MIGRATE_ON_START": "false",  # prepared above
                "DINSOS_WEBHOOK_DISPATCHER": "false",
                # Warnings and errors only: an access line per request would fill the pipe.
                "DINSOS_LOG_LEVEL": "WARNING",
                # Other test runs share the PostgreSQL server: a small pool each, and a wait
                # for it long enough for a loaded machine (25 requests at once per process).
                "DINSOS_DB_POOL_SIZE": "10",
                "DINSOS_DB_POOL_TIMEOUT_SECONDS": "30",
            }
            processes.append((_start(environment, port), port))
        for process, port in processes:
            _wait_ready(process, port)
            _wait_listening(port)
        yield [f"http://127.0.0.1:{port}" for _, port in processes]
    finally:
        for process, _ in processes:
            _stop(process)


@pytest.fixture(scope="module")
async def engine(shared_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(shared_database))
    yield engine
    await engine.dispose()


@pytest.fixture
async def office(engine: AsyncEngine) -> IssuedClient:
    async with create_session_factory(engine)() as session:
        keys = token_keys(Settings(jwt_key=JWT_KEY))
        return await ClientFactory(session, keys, commit=True)(region="33.28")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


async def _allocation(
    http: httpx.AsyncClient, replica: str, office: IssuedClient, amount: int
) -> dict[str, Any]:
    program = program_body()
    made = await http.post(f"{replica}/api/v1/programs", json=program, headers=office.headers)
    assert made.status_code == 201, made.text
    created = await http.post(
        f"{replica}/api/v1/allocations",
        json=allocation_body(program_code=program["code"], amount=amount),
        headers=office.headers,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_fifty_payments_through_two_replicas_against_room_for_ten_commit_ten(
    replicas: list[str], http: httpx.AsyncClient, engine: AsyncEngine, office: IssuedClient
) -> None:
    allocation = await _allocation(http, replicas[0], office, 10 * 2_500_000)
    families = await committed_families(engine, "33.28.02.2001", 50)
    for replica in replicas:  # each has read the allocation: neither starts the race cold
        read = await http.get(
            f"{replica}/api/v1/allocations/{allocation['id']}", headers=office.headers
        )
        assert read.status_code == 200

    responses = await asyncio.gather(
        *(
            http.post(
                f"{replicas[n % 2]}/api/v1/disbursements",
                json=disbursement_body(allocation["id"], family),
                headers=money_headers(office),
            )
            for n, family in enumerate(families)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 10 + [409] * 40, [r.text for r in responses if r.status_code > 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"allocation_exhausted"}

    for replica in replicas:  # both read the same, exactly full allocation
        read = await http.get(
            f"{replica}/api/v1/allocations/{allocation['id']}", headers=office.headers
        )
        assert (read.json()["committed"], read.json()["remaining"]) == (10 * 2_500_000, 0)
    listed = await http.get(
        f"{replicas[1]}/api/v1/disbursements",
        params={"allocation_id": allocation["id"], "limit": 500},
        headers=office.headers,
    )
    assert {item["id"] for item in listed.json()["items"]} == {
        r.json()["id"] for r in responses if r.status_code == 201
    }


async def test_one_nik_created_on_both_replicas_at_once_gives_one_family(
    replicas: list[str], http: httpx.AsyncClient, office: IssuedClient
) -> None:
    for _ in range(5):  # a race is lost or won each round; every round must end the same
        shared = member_body()
        responses = await asyncio.gather(
            *(
                http.post(
                    f"{replica}/api/v1/kpm",
                    json=family_body(members=[shared]),
                    headers=office.headers,
                )
                for replica in replicas
            )
        )
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        for replica in replicas:
            found = await http.get(
                f"{replica}/api/v1/kpm", params={"nik": shared["nik"]}, headers=office.headers
            )
            assert len(found.json()["items"]) == 1


async def test_retries_of_one_payment_on_both_replicas_pay_once_with_one_answer(
    replicas: list[str], http: httpx.AsyncClient, engine: AsyncEngine, office: IssuedClient
) -> None:
    allocation = await _allocation(http, replicas[0], office, 1_600_000_000)
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    headers = money_headers(office)  # one key for every retry
    body = disbursement_body(allocation["id"], family)

    responses = await asyncio.gather(
        *(
            http.post(f"{replicas[n % 2]}/api/v1/disbursements", json=body, headers=headers)
            for n in range(20)
        )
    )
    created = [r for r in responses if r.status_code == 201]
    waiting = [r for r in responses if r.status_code == 409]
    assert len(created) + len(waiting) == 20, [r.text for r in responses]
    assert created
    assert {r.content for r in created} == {created[0].content}
    assert {r.json()["code"] for r in waiting} <= {"idempotency_in_progress"}
    assert sum(1 for r in created if "idempotent-replayed" not in r.headers) <= 1

    # Once the first has finished, a retry on either replica gets its very answer.
    for replica in replicas:
        late = await http.post(f"{replica}/api/v1/disbursements", json=body, headers=headers)
        assert late.status_code == 201
        assert late.content == created[0].content
        assert late.headers["idempotent-replayed"] == "true"
    listed = await http.get(
        f"{replicas[1]}/api/v1/disbursements",
        params={"allocation_id": allocation["id"]},
        headers=office.headers,
    )
    assert [item["id"] for item in listed.json()["items"]] == [created[0].json()["id"]]
    read = await http.get(
        f"{replicas[0]}/api/v1/allocations/{allocation['id']}", headers=office.headers
    )
    assert read.json()["committed"] == body["amount"]
