"""Disbursements one by one: creation read back, the status machine, budget freed by failures
and reversals, once per recipient, program and period (also in parallel)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from tests.factories import (
    ClientFactory,
    allocation_body,
    allocation_state,
    committed_families,
    disbursement_body,
    insert_families,
    money_headers,
    move_disbursement,
    new_allocation,
    new_disbursement,
    program_body,
)


async def test_create_then_read_back_with_history_audit_and_event(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=100_000_000)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    response = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], family, external_reference="BJT-0001"),
        headers=money_headers(office),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/disbursements/{created['id']}"
    assert response.headers["etag"] == '"1"'
    assert "idempotent-replayed" not in response.headers

    read = await http.get(f"/api/v1/disbursements/{created['id']}", headers=office.headers)
    assert read.status_code == 200
    assert read.json() == created
    assert {key: created[key] for key in ("status", "amount", "region_code", "program_code")} == {
        "status": "scheduled",
        "amount": 2_500_000,
        "region_code": "33.28.02.2001",  # the family's village
        "program_code": "PK3E",  # the allocation's program
    }
    assert await allocation_state(http, office, allocation["id"]) == (
        2_500_000,
        0,
        97_500_000,
    )
    history = (
        await http.get(f"/api/v1/disbursements/{created['id']}/transitions", headers=office.headers)
    ).json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [(None, "scheduled")]
    assert history[0]["by_client"] == office.client_id

    audit = (
        await session.scalars(select(AuditEntry).where(col(AuditEntry.record_id) == created["id"]))
    ).one()
    assert (audit.entity, audit.action, audit.region_code) == (
        "disbursement",
        "create",
        "33.28.02.2001",
    )
    assert audit.request_id == response.headers["x-request-id"]
    assert audit.changes is not None
    assert audit.changes["amount"] == [None, 2_500_000]
    event = (
        await session.scalars(
            select(ChangeEvent).where(col(ChangeEvent.record_id) == created["id"])
        )
    ).one()
    assert (event.entity, event.action, event.version) == ("disbursement", "create", 1)
    assert event.changed_fields is not None
    assert "status" in event.changed_fields


async def test_status_machine_and_what_each_move_does_to_the_budget(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=10_000_000)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    created = await new_disbursement(http, office, allocation["id"], family, amount=4_000_000)
    url = created["id"]

    early = await move_disbursement(http, office, url, "confirmed")
    assert early.status_code == 409
    assert early.json()["code"] == "invalid_transition"

    sent = await move_disbursement(http, office, url, "sent", external_reference="POS-77")
    assert sent.status_code == 200, sent.text
    assert (sent.json()["status"], sent.json()["external_reference"]) == ("sent", "POS-77")
    assert await allocation_state(http, office, allocation["id"]) == (4_000_000, 0, 6_000_000)

    confirmed = await move_disbursement(http, office, url, "confirmed", note="Diterima KPM")
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.headers["etag"] == '"3"'
    assert await allocation_state(http, office, allocation["id"]) == (
        4_000_000,
        4_000_000,
        6_000_000,
    )
    for wrong in ("failed", "sent", "scheduled"):
        refused = await move_disbursement(http, office, url, wrong)
        assert refused.status_code == 409, wrong
        assert refused.json()["code"] == "invalid_transition"

    reversed_ = await move_disbursement(http, office, url, "reversed", note="Salah rekening")
    assert reversed_.json()["status"] == "reversed"
    assert await allocation_state(http, office, allocation["id"]) == (0, 0, 10_000_000)
    final = await move_disbursement(http, office, url, "sent")
    assert final.status_code == 409

    history = (
        await http.get(f"/api/v1/disbursements/{url}/transitions", headers=office.headers)
    ).json()
    assert [(h["from_status"], h["to_status"], h["note"]) for h in history] == [
        (None, "scheduled", None),
        ("scheduled", "sent", "Diproses bendahara"),
        ("sent", "confirmed", "Diterima KPM"),
        ("confirmed", "reversed", "Salah rekening"),
    ]
    read = (await http.get(f"/api/v1/disbursements/{url}", headers=office.headers)).json()
    assert (read["status"], read["version"]) == ("reversed", 4)
    events = (
        await session.scalars(
            select(ChangeEvent)
            .where(col(ChangeEvent.record_id) == url)
            .order_by(col(ChangeEvent.id))
        )
    ).all()
    assert [(e.action, e.version) for e in events] == [
        ("create", 1),
        ("transition", 2),
        ("transition", 3),
        ("transition", 4),
    ]


async def test_a_failed_payment_frees_its_budget_and_its_period(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=2_500_000)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    first = await new_disbursement(http, office, allocation["id"], family)
    assert (await move_disbursement(http, office, first["id"], "sent")).status_code == 200
    full = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], family, period="2026-Q2"),
        headers=money_headers(office),
    )
    assert full.json()["code"] == "allocation_exhausted"

    failed = await move_disbursement(http, office, first["id"], "failed", note="Rekening tutup")
    assert failed.status_code == 200
    assert await allocation_state(http, office, allocation["id"]) == (0, 0, 2_500_000)
    # The same recipient and period may be paid again: the failed payment does not count.
    again = await new_disbursement(http, office, allocation["id"], family)
    assert again["id"] != first["id"]
    assert await allocation_state(http, office, allocation["id"]) == (2_500_000, 0, 0)


async def test_once_per_recipient_program_and_period(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    pk3e = await new_allocation(http, office)
    pkh = await new_allocation(http, office, program_code="PKH", funding_source="APBN")
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    await new_disbursement(http, office, pk3e["id"], family, period="2026-Q1")

    twice = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(pk3e["id"], family, period="2026-Q1"),
        headers=money_headers(office),
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "duplicate_disbursement"
    assert twice.json()["errors"][0]["field"] == "period"
    # Another period, another program, or no period at all: allowed.
    await new_disbursement(http, office, pk3e["id"], family, period="2026-Q2")
    await new_disbursement(http, office, pkh["id"], family, period="2026-Q1")
    await new_disbursement(http, office, pk3e["id"], family, period=None)
    await new_disbursement(http, office, pk3e["id"], family, period=None)
    listed = (
        await http.get(
            "/api/v1/disbursements", params={"recipient_id": family}, headers=office.headers
        )
    ).json()
    assert sorted((i["program_code"], i["period"] or "") for i in listed["items"]) == [
        ("PK3E", ""),
        ("PK3E", ""),
        ("PK3E", "2026-Q1"),
        ("PK3E", "2026-Q2"),
        ("PKH", "2026-Q1"),
    ]


async def test_parallel_payments_to_one_recipient_and_period_pay_once(
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
    responses = await asyncio.gather(
        *(
            live_http.post(
                "/api/v1/disbursements",
                json=disbursement_body(allocation["id"], family, purpose=f"Attempt {n}"),
                headers=money_headers(office),  # distinct keys: distinct requests
            )
            for n in range(12)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 11
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "duplicate_disbursement"
    }
    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert read["committed"] == 2_500_000
    listed = (
        await live_http.get(
            "/api/v1/disbursements", params={"recipient_id": family}, headers=office.headers
        )
    ).json()
    assert len(listed["items"]) == 1
