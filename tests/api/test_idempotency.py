"""Idempotency-Key on every request that moves money: a retry replays the first answer and
never pays twice, also when the retries arrive all at once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from schemas.disbursements import DisbursementCreate
from service.disbursements.tables import Disbursement
from service.idempotency.service import canonical_json, request_hash
from tests.factories import (
    ClientFactory,
    IssuedClient,
    allocation_body,
    committed_families,
    disbursement_body,
    insert_families,
    money_headers,
    new_allocation,
    program_body,
    reconciliation_csv,
)


async def _paid(session: AsyncSession, allocation_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(col(Disbursement.allocation_id) == allocation_id)
        )
        or 0
    )


@pytest.fixture
async def setting(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> tuple[IssuedClient, dict[str, Any], list[str]]:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=10_000_000)
    families = await insert_families(session, "33.28.02.2001", 3)
    return office, allocation, families


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/disbursements",
        "/api/v1/disbursements/batches",
        f"/api/v1/disbursements/{uuid.uuid4()}/transitions",
        "/api/v1/disbursements/reconciliations",
    ],
)
async def test_every_money_move_needs_a_key(
    http: httpx.AsyncClient,
    setting: tuple[IssuedClient, dict[str, Any], list[str]],
    path: str,
) -> None:
    office, allocation, families = setting
    body: Any = {
        "/api/v1/disbursements": disbursement_body(allocation["id"], families[0]),
        "/api/v1/disbursements/batches": {
            "items": [disbursement_body(allocation["id"], families[0])]
        },
        "/api/v1/disbursements/reconciliations": None,
    }.get(path, {"to": "sent", "note": "kirim"})
    kwargs: dict[str, Any] = {"content": reconciliation_csv([])} if body is None else {"json": body}
    response = await http.post(path, headers=office.headers, **kwargs)
    assert response.status_code == 428, response.text
    problem = response.json()
    assert problem["code"] == "idempotency_key_required"
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert response.headers["content-type"] == "application/problem+json"
    bad_key = await http.post(
        path, headers={**office.headers, "Idempotency-Key": "no spaces please"}, **kwargs
    )
    assert bad_key.status_code == 422
    assert bad_key.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_a_retry_replays_the_first_answer_and_pays_once(
    http: httpx.AsyncClient,
    session: AsyncSession,
    setting: tuple[IssuedClient, dict[str, Any], list[str]],
) -> None:
    office, allocation, families = setting
    headers = money_headers(office)
    body = disbursement_body(allocation["id"], families[0])
    first = await http.post("/api/v1/disbursements", json=body, headers=headers)
    # The same body with its keys in another order is the same request.
    retry = await http.post(
        "/api/v1/disbursements", json=dict(reversed(list(body.items()))), headers=headers
    )
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.content == first.content  # the very same bytes
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["location"] == first.headers["location"]
    assert await _paid(session, allocation["id"]) == 1

    other = await http.post(
        "/api/v1/disbursements",
        json={**body, "amount": body["amount"] + 1},
        headers=headers,
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    elsewhere = await http.post(
        "/api/v1/disbursements/batches", json={"items": [body]}, headers=headers
    )
    assert elsewhere.json()["code"] == "idempotency_key_reused"
    assert await _paid(session, allocation["id"]) == 1


async def test_keys_belong_to_one_client(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    session: AsyncSession,
    setting: tuple[IssuedClient, dict[str, Any], list[str]],
) -> None:
    office, allocation, families = setting
    province = await clients(region="33")
    key = str(uuid.uuid4())
    for client, family in ((office, families[0]), (province, families[1])):
        response = await http.post(
            "/api/v1/disbursements",
            json=disbursement_body(allocation["id"], family),
            headers=money_headers(client, key),
        )
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers
    assert await _paid(session, allocation["id"]) == 2


async def test_a_refused_request_leaves_its_key_free_for_the_retry(
    http: httpx.AsyncClient,
    session: AsyncSession,
    setting: tuple[IssuedClient, dict[str, Any], list[str]],
) -> None:
    office, allocation, families = setting
    headers = money_headers(office)
    body = disbursement_body(allocation["id"], families[0], amount=12_000_000)
    refused = await http.post("/api/v1/disbursements", json=body, headers=headers)
    assert refused.json()["code"] == "allocation_exhausted"
    raised = await http.patch(
        f"/api/v1/allocations/{allocation['id']}",
        json={"amount": 20_000_000},
        headers={**office.headers, "If-Match": '"1"'},
    )
    assert raised.status_code == 200
    retried = await http.post("/api/v1/disbursements", json=body, headers=headers)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert await _paid(session, allocation["id"]) == 1


async def _claim(
    session: AsyncSession,
    client: IssuedClient,
    key: str,
    fingerprint: str,
    *,
    status: str = "in_progress",
    claimed: str = "now()",
    expires: str = "now() + interval '1 day'",
) -> None:
    await session.execute(
        text(
            "INSERT INTO idempotency_key (client_id, key, request_hash, status, claim_token,"
            f" response_status, response_body, claimed_at, expires_at) VALUES (:client, :key,"
            f" :hash, :status, gen_random_uuid(), 201, '{{}}', {claimed}, {expires})"
        ),
        {"client": client.client_id, "key": key, "hash": fingerprint, "status": status},
    )


def _fingerprint(body: dict[str, Any]) -> str:
    data = DisbursementCreate.model_validate(body)
    return request_hash("createDisbursement", canonical_json(data.model_dump(mode="json")))


async def test_in_progress_abandoned_and_expired_keys(
    http: httpx.AsyncClient,
    session: AsyncSession,
    setting: tuple[IssuedClient, dict[str, Any], list[str]],
) -> None:
    office, allocation, families = setting
    body = disbursement_body(allocation["id"], families[0])

    # Another request with this key is still running.
    await _claim(session, office, "running", _fingerprint(body))
    running = await http.post(
        "/api/v1/disbursements", json=body, headers=money_headers(office, "running")
    )
    assert running.status_code == 409
    assert running.json()["code"] == "idempotency_in_progress"

    # Its request died long ago (nobody holds its claim): the retry takes the key over.
    await _claim(
        session, office, "abandoned", _fingerprint(body), claimed="now() - interval '1 hour'"
    )
    taken_over = await http.post(
        "/api/v1/disbursements", json=body, headers=money_headers(office, "abandoned")
    )
    assert taken_over.status_code == 201, taken_over.text

    # A key is remembered for a day; after that it is a new key.
    other = disbursement_body(allocation["id"], families[1])
    await _claim(
        session,
        office,
        "yesterday",
        "a different request",
        status="done",
        claimed="now() - interval '25 hours'",
        expires="now() - interval '1 hour'",
    )
    fresh = await http.post(
        "/api/v1/disbursements", json=other, headers=money_headers(office, "yesterday")
    )
    assert fresh.status_code == 201, fresh.text
    assert "idempotent-replayed" not in fresh.headers
    assert await _paid(session, allocation["id"]) == 2


async def test_claims_prune_keys_long_expired(
    http: httpx.AsyncClient,
    session: AsyncSession,
    setting: tuple[IssuedClient, dict[str, Any], list[str]],
) -> None:
    """Each claim deletes a few keys that expired more than a while ago, and no live key."""
    office, allocation, families = setting
    for key, expires in (
        ("old", "now() - interval '1 hour'"),
        ("live", "now() + interval '1 hour'"),
    ):
        await _claim(
            session,
            office,
            key,
            "an old request",
            status="done",
            claimed="now() - interval '25 hours'",
            expires=expires,
        )
    paid = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], families[0]),
        headers=money_headers(office),
    )
    assert paid.status_code == 201, paid.text
    left = await session.scalars(
        text("SELECT key FROM idempotency_key WHERE key IN ('old', 'live')")
    )
    assert list(left) == ["live"]


async def test_batches_transitions_and_files_replay_too(
    http: httpx.AsyncClient,
    session: AsyncSession,
    setting: tuple[IssuedClient, dict[str, Any], list[str]],
) -> None:
    office, allocation, families = setting
    batch = {"items": [disbursement_body(allocation["id"], family) for family in families]}
    headers = money_headers(office)
    first = await http.post("/api/v1/disbursements/batches", json=batch, headers=headers)
    again = await http.post("/api/v1/disbursements/batches", json=batch, headers=headers)
    assert first.json()["created"] == 3
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert await _paid(session, allocation["id"]) == 3

    target = first.json()["items"][0]["id"]
    url = f"/api/v1/disbursements/{target}/transitions"
    move = {"to": "sent", "note": "kirim", "external_reference": "BJT-1"}
    headers = money_headers(office)
    sent = await http.post(url, json=move, headers=headers)
    resent = await http.post(url, json=move, headers=headers)
    # Not a 409 invalid_transition: the retry is answered with the first answer.
    assert (sent.status_code, resent.status_code) == (200, 200)
    assert resent.content == sent.content
    history = await http.get(url, headers=office.headers)
    assert [h["to_status"] for h in history.json()] == ["scheduled", "sent"]
    other_target = first.json()["items"][1]["id"]
    reused = await http.post(
        f"/api/v1/disbursements/{other_target}/transitions", json=move, headers=headers
    )
    assert reused.json()["code"] == "idempotency_key_reused"

    content = reconciliation_csv([("BJT-1", "confirmed", 2_500_000, "2026-02-03")])
    headers = money_headers(office)
    settled = await http.post(
        "/api/v1/disbursements/reconciliations", content=content, headers=headers
    )
    replayed = await http.post(
        "/api/v1/disbursements/reconciliations", content=content, headers=headers
    )
    assert settled.json()["settled"] == 1
    assert replayed.content == settled.content
    assert replayed.headers["idempotent-replayed"] == "true"


async def test_graphql_shares_the_keys_of_rest(
    http: httpx.AsyncClient,
    session: AsyncSession,
    setting: tuple[IssuedClient, dict[str, Any], list[str]],
) -> None:
    office, allocation, families = setting
    key = str(uuid.uuid4())
    body = disbursement_body(allocation["id"], families[0])
    rest = await http.post("/api/v1/disbursements", json=body, headers=money_headers(office, key))
    mutation = (
        "mutation($k: String!, $i: DisbursementCreateInput!) {"
        " createDisbursement(idempotencyKey: $k, input: $i) { id amount status } }"
    )
    graphql_input = {
        "allocationId": body["allocation_id"],
        "recipientKind": "kpm",
        "recipientId": body["recipient_id"],
        "amount": body["amount"],
        "purpose": body["purpose"],
        "channel": body["channel"],
        "period": body["period"],
    }
    answer = await http.post(
        "/graphql",
        json={"query": mutation, "variables": {"k": key, "i": graphql_input}},
        headers=office.headers,
    )
    assert answer.json()["data"]["createDisbursement"]["id"] == rest.json()["id"]
    changed = await http.post(
        "/graphql",
        json={"query": mutation, "variables": {"k": key, "i": {**graphql_input, "amount": 1}}},
        headers=office.headers,
    )
    assert changed.json()["errors"][0]["extensions"]["code"] == "idempotency_key_reused"
    assert await _paid(session, allocation["id"]) == 1


async def test_twenty_parallel_retries_pay_exactly_once(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    office = await live_clients(region="33.28")
    program = program_body()
    await live_http.post("/api/v1/programs", json=program, headers=office.headers)
    allocation = (
        await live_http.post(
            "/api/v1/allocations",
            json=allocation_body(program_code=program["code"]),
            headers=office.headers,
        )
    ).json()
    (family,) = await committed_families(engine, "33.28.02.2001", 1)
    headers = money_headers(office)
    body = disbursement_body(allocation["id"], family)

    responses = await asyncio.gather(
        *(live_http.post("/api/v1/disbursements", json=body, headers=headers) for _ in range(20))
    )
    created = [r for r in responses if r.status_code == 201]
    waiting = [r for r in responses if r.status_code == 409]
    assert len(created) + len(waiting) == 20, [r.text for r in responses]
    assert created
    assert {r.content for r in created} == {created[0].content}
    assert {r.json()["code"] for r in waiting} <= {"idempotency_in_progress"}
    assert sum(1 for r in created if "idempotent-replayed" not in r.headers) <= 1

    # Once the first has finished, every retry gets its answer.
    late = await live_http.post("/api/v1/disbursements", json=body, headers=headers)
    assert late.status_code == 201
    assert late.content == created[0].content
    listed = (
        await live_http.get(
            "/api/v1/disbursements",
            params={"allocation_id": allocation["id"]},
            headers=office.headers,
        )
    ).json()
    assert [item["id"] for item in listed["items"]] == [late.json()["id"]]
    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert read["committed"] == body["amount"]
