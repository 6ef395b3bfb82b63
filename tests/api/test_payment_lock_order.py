"""A single payment locks its allocation for one statement and its commit. These tests hold the
allocation's row from a connection of their own to put payments where that order matters: the
room gone while a payment was being written, a payment behind a batch that locked the
allocation first, a retry (or a reused key) waiting behind its first request, and a retry
whose first request is stuck behind a lock held for long. The last tests check what a payment
leaves: its journal at the write's one time, saying what a read of the payment shows."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.connections import asyncpg_dsn
from tests.factories import (
    ClientFactory,
    IssuedClient,
    allocation_body,
    committed_families,
    disbursement_body,
    money_headers,
    program_body,
)

AMOUNT = 2_500_000
# Seconds a test holds an allocation's row for requests that must not wait for it that long.
_HELD_AT_MOST = 60


async def _allocation(
    http: httpx.AsyncClient, office: IssuedClient, amount: int
) -> tuple[dict[str, Any], str]:
    program = program_body()
    assert (
        await http.post("/api/v1/programs", json=program, headers=office.headers)
    ).status_code == 201
    created = await http.post(
        "/api/v1/allocations",
        json=allocation_body(program_code=program["code"], amount=amount),
        headers=office.headers,
    )
    assert created.status_code == 201
    return created.json(), program["code"]


async def _until_someone_waits_for_a_lock(watcher: asyncpg.Connection, count: int = 1) -> None:
    """Until ``count`` other backends of this database wait for a lock (the payments, on the
    row held by the test). Bounded, so a payment that never waits fails the test instead of
    hanging."""
    for _ in range(1200):
        waiting = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the payment never waited for the allocation's row")


async def _counts(connection: asyncpg.Connection, key: str) -> dict[str, int]:
    """What a payment leaves behind, counted: rows, history, audit, events, its key."""
    return {
        "disbursement": await connection.fetchval("SELECT count(*) FROM disbursement"),
        "history": await connection.fetchval("SELECT count(*) FROM disbursement_transition"),
        "audit": await connection.fetchval(
            "SELECT count(*) FROM audit_entry WHERE entity = 'disbursement'"
        ),
        "events": await connection.fetchval(
            "SELECT count(*) FROM change_event WHERE entity IN ('disbursement', 'allocation')"
        ),
        "key": await connection.fetchval(
            "SELECT count(*) FROM idempotency_key WHERE key = $1", key
        ),
    }


async def test_a_payment_whose_room_went_while_it_was_written_leaves_nothing(
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    database_url: str,
) -> None:
    """The payment reads room for itself, writes itself, and then finds the room taken by the
    time it may lock the allocation: 409 as always, and no row, history, audit entry, change
    event or stored answer; its key stays free for the retry."""
    office = await live_clients(region="33.28")
    allocation, _ = await _allocation(live_http, office, 4 * AMOUNT)
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    key = str(uuid.uuid4())
    body = disbursement_body(allocation["id"], family)
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        before = await _counts(watcher, key)
        transaction = holder.transaction()
        await transaction.start()
        # Another writer takes the whole room and holds the row.
        await holder.execute(
            "UPDATE budget_allocation SET committed = amount WHERE id = $1",
            uuid.UUID(allocation["id"]),
        )
        payment = asyncio.create_task(
            live_http.post("/api/v1/disbursements", json=body, headers=money_headers(office, key))
        )
        await _until_someone_waits_for_a_lock(watcher)
        await transaction.commit()
        refused = await payment
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["code"] == "allocation_exhausted"
        assert problem["errors"][0]["field"] == "amount"
        assert problem["errors"][0]["message"] == "The allocation has 0 rupiah left."
        assert await _counts(watcher, key) == before
        # The room back: the same key runs the payment afresh.
        await watcher.execute(
            "UPDATE budget_allocation SET committed = 0 WHERE id = $1",
            uuid.UUID(allocation["id"]),
        )
        retried = await live_http.post(
            "/api/v1/disbursements", json=body, headers=money_headers(office, key)
        )
        assert retried.status_code == 201, retried.text
        assert "idempotent-replayed" not in retried.headers
    finally:
        await holder.close()
        await watcher.close()
    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert read["committed"] == AMOUNT


async def test_a_payment_caught_in_a_circle_with_a_batch_is_run_again(
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    database_url: str,
) -> None:
    """A batch locks its allocations first and then inserts; a payment that inserted first and
    then locked would wait for the batch in a circle when both pay the same family for the
    same period. Its statement now takes the allocation's lock first, so it waits behind the
    batch and goes in once the batch is gone; should PostgreSQL still report a circle, the
    payment runs again instead of answering 500."""
    office = await live_clients(region="33.28")
    allocation, program = await _allocation(live_http, office, 4 * AMOUNT)
    allocation_id = uuid.UUID(allocation["id"])
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    body = disbursement_body(allocation["id"], family)
    batch = await asyncpg.connect(asyncpg_dsn(database_url))
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        transaction = batch.transaction()
        await transaction.start()
        # Longer than the payment's: the payment's backend finds the circle and is cancelled.
        await batch.execute("SET LOCAL deadlock_timeout = '60s'")
        await batch.execute(
            "SELECT id FROM budget_allocation WHERE id = $1 FOR UPDATE", allocation_id
        )
        payment = asyncio.create_task(
            live_http.post("/api/v1/disbursements", json=body, headers=money_headers(office))
        )
        await _until_someone_waits_for_a_lock(watcher)
        # The batch now pays the same family for the same period: it waits for the payment's
        # row, which waits for the batch's allocation.
        await batch.execute(
            "INSERT INTO disbursement (id, allocation_id, program_code, recipient_kind,"
            " recipient_id, region_code, amount, purpose, channel, period, status)"
            " SELECT $1, $2, $3, 'kpm', id, village_code, $4, 'Modal usaha', 'bank_transfer',"
            " $5, 'scheduled' FROM kpm_family WHERE id = $6",
            uuid.uuid4(),
            allocation_id,
            program,
            AMOUNT,
            body["period"],
            uuid.UUID(family),
        )
        # The batch is refused later on (rolled back): the payment, run again, goes in.
        await transaction.rollback()
        paid = await payment
        assert paid.status_code == 201, paid.text
        rows = await watcher.fetch(
            "SELECT id, amount FROM disbursement WHERE recipient_id = $1", uuid.UUID(family)
        )
        assert [(str(row["id"]), row["amount"]) for row in rows] == [(paid.json()["id"], AMOUNT)]
    finally:
        await batch.close()
        await watcher.close()
    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert (read["committed"], read["remaining"]) == (AMOUNT, 3 * AMOUNT)


async def _sum_events(connection: asyncpg.Connection, allocation_id: str) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        "SELECT changed_fields, payload FROM change_event"
        " WHERE entity = 'allocation' AND record_id = $1 AND action = 'update' ORDER BY id",
        allocation_id,
    )
    assert all(row["changed_fields"] == ["committed"] for row in rows)
    return [json.loads(row["payload"]) for row in rows]


async def test_parallel_payments_publish_each_committed_sum_they_left(
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    database_url: str,
) -> None:
    """Ten payments at once: each publishes the allocation as its own UPDATE left it, so the
    events count up one payment at a time, and the last one is what a read shows."""
    office = await live_clients(region="33.28")
    allocation, _ = await _allocation(live_http, office, 10 * AMOUNT)
    families = await committed_families(engine, "33.28.02.2001", 10)
    responses = await asyncio.gather(
        *(
            live_http.post(
                "/api/v1/disbursements",
                json=disbursement_body(allocation["id"], family),
                headers=money_headers(office),
            )
            for family in families
        )
    )
    assert [response.status_code for response in responses] == [201] * 10
    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        events = await _sum_events(watcher, allocation["id"])
    finally:
        await watcher.close()
    assert sorted(event["committed"] for event in events) == [n * AMOUNT for n in range(1, 11)]
    assert all(event["remaining"] == event["amount"] - event["committed"] for event in events)
    assert max(events, key=lambda event: event["committed"]) == read


@pytest.mark.parametrize(
    ("meanwhile", "expected"),
    [
        # An office raises the budget: the next version.
        (
            "amount = amount * 2, version = version + 1, updated_at = now()",
            (2, 8 * AMOUNT, AMOUNT, 0),
        ),
        # An earlier payment is confirmed: the sums move, the version stays.
        (
            f"committed = committed + {AMOUNT}, confirmed = confirmed + {AMOUNT}",
            (1, 4 * AMOUNT, 2 * AMOUNT, AMOUNT),
        ),
    ],
    ids=["edited", "confirmed"],
)
async def test_a_payment_publishes_the_allocation_as_changed_while_it_was_written(
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    database_url: str,
    meanwhile: str,
    expected: tuple[int, int, int, int],
) -> None:
    """The allocation changes between the payment's first look and its charge: the
    payment's event carries the allocation as it stands after both, not as first read."""
    office = await live_clients(region="33.28")
    allocation, _ = await _allocation(live_http, office, 4 * AMOUNT)
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            f"UPDATE budget_allocation SET {meanwhile} WHERE id = $1", uuid.UUID(allocation["id"])
        )
        payment = asyncio.create_task(
            live_http.post(
                "/api/v1/disbursements",
                json=disbursement_body(allocation["id"], family),
                headers=money_headers(office),
            )
        )
        await _until_someone_waits_for_a_lock(watcher)
        await transaction.commit()
        paid = await payment
        assert paid.status_code == 201, paid.text
        (event,) = await _sum_events(watcher, allocation["id"])
    finally:
        await holder.close()
        await watcher.close()
    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert (read["version"], read["amount"], read["committed"], read["confirmed"]) == expected
    assert event == read


async def test_a_payment_leaves_its_row_history_journal_and_answer_at_once(
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    database_url: str,
) -> None:
    """Everything a payment writes is there when its answer is: the row, one history step,
    one audit entry, its change event and the allocation's, and its key with that very
    answer; the retry is answered with it and writes nothing."""
    office = await live_clients(region="33.28")
    allocation, _ = await _allocation(live_http, office, 4 * AMOUNT)
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    key = str(uuid.uuid4())
    body = disbursement_body(allocation["id"], family)
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        before = await _counts(watcher, key)
        paid = await live_http.post(
            "/api/v1/disbursements", json=body, headers=money_headers(office, key)
        )
        assert paid.status_code == 201, paid.text
        answer = paid.json()
        after = await _counts(watcher, key)
        assert {name: after[name] - before[name] for name in after} == {
            "disbursement": 1,
            "history": 1,
            "audit": 1,
            "events": 2,
            "key": 1,
        }
        stored = await watcher.fetchrow(
            "SELECT status, response_status, response_body FROM idempotency_key WHERE key = $1",
            key,
        )
        assert stored is not None
        assert (stored["status"], stored["response_status"]) == ("done", 201)
        assert json.loads(stored["response_body"]) == answer
        event = await watcher.fetchval(
            "SELECT payload FROM change_event WHERE entity = 'disbursement' AND record_id = $1",
            answer["id"],
        )
        assert json.loads(event) == answer
        step = await watcher.fetchrow(
            "SELECT from_status, to_status FROM disbursement_transition WHERE disbursement_id = $1",
            uuid.UUID(answer["id"]),
        )
        assert step is not None
        assert (step["from_status"], step["to_status"]) == (None, "scheduled")
        retried = await live_http.post(
            "/api/v1/disbursements", json=body, headers=money_headers(office, key)
        )
        assert retried.headers["idempotent-replayed"] == "true"
        assert retried.content == paid.content
        assert await _counts(watcher, key) == after
    finally:
        await watcher.close()
    read = await live_http.get(f"/api/v1/disbursements/{answer['id']}", headers=office.headers)
    assert read.json() == answer


async def _both_waiting_then_released(
    http: httpx.AsyncClient,
    allocation_id: str,
    database_url: str,
    posts: list[tuple[dict[str, Any], dict[str, str]]],
) -> list[httpx.Response]:
    """The requests ``posts`` (body, headers) sent while the test holds the allocation's row,
    answered once all of them wait for it and the test let it go."""
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            "SELECT id FROM budget_allocation WHERE id = $1 FOR UPDATE", uuid.UUID(allocation_id)
        )
        requests = [
            asyncio.create_task(http.post("/api/v1/disbursements", json=body, headers=headers))
            for body, headers in posts
        ]
        await _until_someone_waits_for_a_lock(watcher, count=len(posts))
        await transaction.commit()
        return list(await asyncio.gather(*requests))
    finally:
        await holder.close()
        await watcher.close()


@pytest.mark.parametrize("room", [4 * AMOUNT, AMOUNT], ids=["room-for-four", "room-for-one"])
async def test_a_retry_waiting_behind_its_first_request_gets_its_answer(
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    database_url: str,
    room: int,
) -> None:
    """A request and its retry (same key, same body) both wait for the allocation: the first
    pays, the retry answers with the first answer, neither a 409 nor a second payment; also
    when the first took the very last of the budget (the retry's charge no longer fits)."""
    office = await live_clients(region="33.28")
    allocation, _ = await _allocation(live_http, office, room)
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    headers = money_headers(office)
    body = disbursement_body(allocation["id"], family)
    responses = await _both_waiting_then_released(
        live_http, allocation["id"], database_url, [(body, headers), (body, headers)]
    )
    assert [response.status_code for response in responses] == [201, 201], [
        response.text for response in responses
    ]
    assert responses[0].content == responses[1].content
    assert sorted(response.headers.get("idempotent-replayed", "") for response in responses) == [
        "",
        "true",
    ]
    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert read["committed"] == AMOUNT


@pytest.mark.parametrize("room", [4 * AMOUNT, AMOUNT], ids=["room-for-four", "room-for-one"])
async def test_a_key_reused_for_another_body_behind_its_first_request_is_told_so(
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    database_url: str,
    room: int,
) -> None:
    """Two different payments sent with one key both wait for the allocation: one pays, the
    other is told the key was used for another request (422), not that the period is taken or
    the budget gone."""
    office = await live_clients(region="33.28")
    allocation, _ = await _allocation(live_http, office, room)
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    headers = money_headers(office)
    body = disbursement_body(allocation["id"], family)
    other = {**body, "purpose": "Another purpose"}
    responses = await _both_waiting_then_released(
        live_http, allocation["id"], database_url, [(body, headers), (other, headers)]
    )
    assert sorted(response.status_code for response in responses) == [201, 422], [
        response.text for response in responses
    ]
    (refused,) = (response for response in responses if response.status_code == 422)
    assert refused.json()["code"] == "idempotency_key_reused"
    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert read["committed"] == AMOUNT


async def test_a_retry_behind_its_first_request_stuck_behind_a_batch_is_told_to_come_back(
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    database_url: str,
) -> None:
    """While the allocation stays locked (a large batch), a payment and its retry do not both
    wait for it: one of them answers 409 ``idempotency_in_progress`` while the lock is still
    held, the other pays once it is gone, and a later retry gets that answer. The payment that
    waited is journaled as a read of it shows it."""
    office = await live_clients(region="33.28")
    allocation, _ = await _allocation(live_http, office, 4 * AMOUNT)
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    headers = money_headers(office)
    body = disbursement_body(allocation["id"], family)
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            "SELECT id FROM budget_allocation WHERE id = $1 FOR UPDATE",
            uuid.UUID(allocation["id"]),
        )
        requests = {
            asyncio.create_task(live_http.post("/api/v1/disbursements", json=body, headers=headers))
            for _ in range(2)
        }
        await _until_someone_waits_for_a_lock(watcher, count=2)
        # Answered while the allocation is still locked (the bound only turns a request that
        # waits for the lock as long as it is held into a failure instead of a hung test).
        done, waiting = await asyncio.wait(
            requests, timeout=_HELD_AT_MOST, return_when=asyncio.FIRST_COMPLETED
        )
        assert done, "both requests waited for the allocation as long as it was held"
        (told,) = done
        assert told.result().status_code == 409, told.result().text
        assert told.result().json()["code"] == "idempotency_in_progress"
        await transaction.commit()
        (pending,) = waiting
        paid = await pending
    finally:
        await holder.close()
        await watcher.close()
    assert paid.status_code == 201, paid.text
    retried = await live_http.post("/api/v1/disbursements", json=body, headers=headers)
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.content == paid.content
    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert read["committed"] == AMOUNT
    await _assert_journaled_as_read(live_http, office, database_url, paid.json())


async def test_a_payment_and_its_journal_share_one_time(
    live_http: httpx.AsyncClient,
    live_clients: ClientFactory,
    engine: AsyncEngine,
    database_url: str,
) -> None:
    """A payment's row, its history step, its audit entry and both change events carry the one
    time of the write; the journal says what a read of the payment shows."""
    office = await live_clients(region="33.28")
    allocation, _ = await _allocation(live_http, office, 4 * AMOUNT)
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    paid = await live_http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], family),
        headers=money_headers(office),
    )
    assert paid.status_code == 201, paid.text
    answer = paid.json()
    assert answer["created_at"] == answer["updated_at"]
    await _assert_journaled_as_read(live_http, office, database_url, answer)


async def _assert_journaled_as_read(
    http: httpx.AsyncClient, office: IssuedClient, database_url: str, answer: dict[str, Any]
) -> None:
    """The payment ``answer``: its row, history step, audit entry and both change events at
    its ``created_at``; the event and the audit entry say what a read of it shows."""
    shown = (await http.get(f"/api/v1/disbursements/{answer['id']}", headers=office.headers)).json()
    assert shown == answer
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await watcher.fetchrow(
            "SELECT d.created_at, d.updated_at, (SELECT array_agg(t.at) FROM"
            " disbursement_transition t WHERE t.disbursement_id = d.id) AS steps,"
            " (SELECT array_agg(a.occurred_at) FROM audit_entry a WHERE a.entity = 'disbursement'"
            " AND a.record_id = d.id::text) AS audits,"
            " (SELECT a.changes FROM audit_entry a WHERE a.entity = 'disbursement'"
            " AND a.record_id = d.id::text) AS changes,"
            " (SELECT e.occurred_at FROM change_event e WHERE e.entity = 'disbursement'"
            " AND e.record_id = d.id::text) AS event_at,"
            " (SELECT e.payload FROM change_event e WHERE e.entity = 'disbursement'"
            " AND e.record_id = d.id::text) AS payload,"
            " (SELECT array_agg(e.occurred_at) FROM change_event e WHERE e.entity = 'allocation'"
            " AND e.record_id = d.allocation_id::text AND e.txid = (SELECT txid FROM change_event"
            " WHERE entity = 'disbursement' AND record_id = d.id::text)) AS allocation_events"
            " FROM disbursement d WHERE d.id = $1",
            uuid.UUID(answer["id"]),
        )
    finally:
        await watcher.close()
    assert row is not None
    written = row["created_at"]
    assert row["updated_at"] == written
    assert (row["steps"], row["audits"], row["event_at"]) == ([written], [written], written)
    assert row["allocation_events"] == [written]
    assert json.loads(row["payload"]) == shown
    assert json.loads(row["changes"]) == {
        "allocation_id": [None, shown["allocation_id"]],
        "recipient": [None, f"{shown['recipient_kind']}:{shown['recipient_id']}"],
        "amount": [None, shown["amount"]],
        "status": [None, "scheduled"],
        **({"period": [None, shown["period"]]} if shown["period"] else {}),
    }
