"""Batches: up to 10,000 disbursements in one request, each item in or refused on its own."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from service.disbursements import creation
from service.disbursements.tables import Disbursement, DisbursementTransition
from tests.factories import (
    ClientFactory,
    allocation_body,
    committed_families,
    disbursement_body,
    insert_families,
    money_headers,
    new_allocation,
    new_disbursement,
    program_body,
)

URL = "/api/v1/disbursements/batches"


async def _count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(query) or 0)


async def test_a_batch_of_2000_with_bad_items_reports_each_and_keeps_the_rest(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    # Room for 1,950 payments of Rp1 million.
    allocation = await new_allocation(http, office, amount=1_950_000_000)
    families = await insert_families(session, "33.28.02.2001", 2000)
    brebes = await insert_families(session, "33.29.01.2001", 1)
    already = await new_disbursement(http, office, allocation["id"], families[7], amount=1_000_000)
    items = [disbursement_body(allocation["id"], family, amount=1_000_000) for family in families]
    bad: dict[int, tuple[str, str]] = {
        3: ("amount", "greater_than_equal"),
        7: ("period", "duplicate_disbursement"),  # paid before the batch
        11: ("recipient_id", "unknown_recipient"),
        13: ("period", "duplicate_disbursement"),  # same family and period as item 12
        20: ("recipient_id", "outside_region"),
        30: ("period", "period_outside_fiscal_year"),
        40: ("purpose", "missing"),
        50: ("amount", "int_type"),
    }
    items[3]["amount"] = 0
    items[11]["recipient_id"] = "8f14e45f-ceea-467f-a0e6-5e9c4a1b2c3d"
    items[13]["recipient_id"] = families[12]
    items[20]["recipient_id"] = brebes[0]
    items[30]["period"] = "2025-Q4"
    del items[40]["purpose"]
    items[50]["amount"] = 1_000_000.0

    response = await http.post(URL, json={"items": items}, headers=money_headers(office))
    assert response.status_code == 200, response.text
    result = response.json()

    # 2,000 items, 8 bad; the allocation had 1,949 payments of room left (one paid before).
    assert (result["received"], result["created"], result["refused"]) == (2000, 1949, 51)
    assert result["amount_created"] == 1_949_000_000
    assert [item["index"] for item in result["items"]] == list(range(2000))
    refused = {
        item["index"]: (item["error"]["field"], item["error"]["code"])
        for item in result["items"]
        if item["status"] == "refused"
    }
    assert {index: refused[index] for index in bad} == bad
    exhausted = sorted(index for index, problem in refused.items() if index not in bad)
    assert len(exhausted) == 43
    assert exhausted == list(range(1957, 2000))  # the budget ran out in item order
    assert {refused[index] for index in exhausted} == {("amount", "allocation_exhausted")}
    created = [item for item in result["items"] if item["status"] == "created"]
    assert all(item["id"] and item["error"] is None for item in created)

    # Read back: the allocation is exactly full, and every created item is there once.
    read = (
        await http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert (read["committed"], read["remaining"]) == (1_950_000_000, 0)
    in_allocation = col(Disbursement.allocation_id) == allocation["id"]
    assert await _count(session, select(func.count()).where(in_allocation)) == 1950
    assert await _count(session, select(func.sum(Disbursement.amount)).where(in_allocation)) == (
        1_950_000_000
    )
    ids = [item["id"] for item in created]
    assert await _count(session, select(func.count()).where(col(Disbursement.id).in_(ids))) == len(
        ids
    )
    for table, column in (
        (DisbursementTransition, DisbursementTransition.disbursement_id),
        (AuditEntry, AuditEntry.record_id),
        (ChangeEvent, ChangeEvent.record_id),
    ):
        count = select(func.count()).select_from(table).where(col(column).in_(ids))
        assert await _count(session, count) == 1949, table
    listed = await http.get(
        "/api/v1/disbursements",
        params={"allocation_id": allocation["id"], "limit": 500},
        headers=office.headers,
    )
    assert len(listed.json()["items"]) == 500
    assert listed.json()["next_cursor"]
    assert already["id"] not in ids


async def test_ten_thousand_items_go_in_and_one_more_is_refused(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=10_000 * 300_000)
    families = await insert_families(session, "33.28.02.2001", 9999)
    families += await insert_families(session, "33.28.02.2002", 1)
    items = [
        disbursement_body(allocation["id"], family, amount=300_000, channel="kks")
        for family in families
    ]
    too_many = await http.post(
        URL, json={"items": [*items, items[0]]}, headers=money_headers(office)
    )
    assert too_many.status_code == 422
    assert [(e["field"], e["code"]) for e in too_many.json()["errors"]] == [("items", "too_long")]
    empty = await http.post(URL, json={"items": []}, headers=money_headers(office))
    assert [(e["field"], e["code"]) for e in empty.json()["errors"]] == [("items", "too_short")]

    response = await http.post(URL, json={"items": items}, headers=money_headers(office))
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["refused"]) == (10_000, 0)
    read = (
        await http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert (read["committed"], read["remaining"]) == (3_000_000_000, 0)


async def test_items_that_are_not_objects_are_refused_on_their_own(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    response = await http.post(
        URL,
        json={"items": ["nonsense", None, disbursement_body(allocation["id"], family)]},
        headers=money_headers(office),
    )
    assert response.status_code == 200
    assert [(i["status"], (i["error"] or {}).get("code")) for i in response.json()["items"]] == [
        ("refused", "model_type"),
        ("refused", "model_type"),
        ("created", None),
    ]


async def test_parallel_batches_from_two_allocations_pay_each_family_once(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    """Two batches for the same 300 families and period, drawing on two allocations of one
    program: no lock is shared, so the second batch's checks may not see the first batch's
    payments yet; the unique index then refuses the family, not the batch."""
    office = await live_clients(region="33.28")
    program = program_body()
    await live_http.post("/api/v1/programs", json=program, headers=office.headers)
    allocations = [
        (
            await live_http.post(
                "/api/v1/allocations",
                json=allocation_body(program_code=program["code"], funding_source=source),
                headers=office.headers,
            )
        ).json()
        for source in ("APBD_KABKOTA", "APBN")
    ]
    families = await committed_families(engine, "33.28.02.2001", 300)
    batches = [
        {"items": [disbursement_body(allocation["id"], family) for family in families]}
        for allocation in allocations
    ]
    first, second = await asyncio.gather(
        *(live_http.post(URL, json=batch, headers=money_headers(office)) for batch in batches)
    )
    assert (first.status_code, second.status_code) == (200, 200)
    created = first.json()["created"] + second.json()["created"]
    assert created == 300
    for result in (first.json(), second.json()):
        codes = {i["error"]["code"] for i in result["items"] if i["status"] == "refused"}
        assert codes <= {"duplicate_disbursement"}
    committed = 0
    for allocation in allocations:
        read = await live_http.get(
            f"/api/v1/allocations/{allocation['id']}", headers=office.headers
        )
        committed += read.json()["committed"]
    assert committed == 300 * 2_500_000


async def test_an_item_that_loses_a_race_is_refused_alone(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As if another request had paid the family between our checks and our insert: the
    checks are made blind to existing payments, and the unique index has the last word."""
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office)
    one, two = await insert_families(session, "33.28.02.2001", 2)
    await new_disbursement(http, office, allocation["id"], one)
    look_up = creation._look_up

    async def blind_look_up(*args: Any) -> Any:
        context = await look_up(*args)
        context.taken_periods.clear()
        return context

    monkeypatch.setattr(creation, "_look_up", blind_look_up)
    response = await http.post(
        URL,
        json={"items": [disbursement_body(allocation["id"], f) for f in (one, two)]},
        headers=money_headers(office),
    )
    items = response.json()["items"]
    assert [(i["status"], (i["error"] or {}).get("code")) for i in items] == [
        ("refused", "duplicate_disbursement"),
        ("created", None),
    ]
    read = (
        await http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert read["committed"] == 2 * 2_500_000


async def test_a_batch_journals_each_item_as_a_single_payment_does(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    """The batch's history, audit entries and change events are written by the database from
    the new rows; they say what a single payment's say: the event carries the disbursement as
    a read shows it, the audit entry the same changes."""
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office)
    families = await insert_families(session, "33.28.02.2001", 3)
    single = await new_disbursement(http, office, allocation["id"], families[0])
    items = [
        disbursement_body(allocation["id"], families[1]),
        disbursement_body(
            allocation["id"], families[2], period=None, external_reference="BATCH-REF-2"
        ),
    ]
    response = await http.post(URL, json={"items": items}, headers=money_headers(office))
    assert response.status_code == 200, response.text
    ids = [single["id"], *(item["id"] for item in response.json()["items"])]
    recipients = families
    for disbursement_id, family in zip(ids, recipients, strict=True):
        read = await http.get(f"/api/v1/disbursements/{disbursement_id}", headers=office.headers)
        shown = read.json()
        event = (
            await session.execute(
                select(
                    col(ChangeEvent.payload),
                    col(ChangeEvent.changed_fields),
                    col(ChangeEvent.version),
                ).where(
                    col(ChangeEvent.entity) == "disbursement",
                    col(ChangeEvent.record_id) == disbursement_id,
                )
            )
        ).one()
        changes = {
            "allocation_id": [None, allocation["id"]],
            "recipient": [None, f"kpm:{family}"],
            "amount": [None, shown["amount"]],
            "status": [None, "scheduled"],
            **({"period": [None, shown["period"]]} if shown["period"] else {}),
        }
        assert event.payload == shown
        assert (event.changed_fields, event.version) == (sorted(changes), 1)
        audit = (
            await session.execute(
                select(
                    col(AuditEntry.action), col(AuditEntry.changes), col(AuditEntry.region_code)
                ).where(
                    col(AuditEntry.entity) == "disbursement",
                    col(AuditEntry.record_id) == disbursement_id,
                )
            )
        ).one()
        assert tuple(audit) == ("create", changes, shown["region_code"])
        step = (
            await session.execute(
                select(
                    col(DisbursementTransition.from_status),
                    col(DisbursementTransition.to_status),
                ).where(col(DisbursementTransition.disbursement_id) == disbursement_id)
            )
        ).one()
        assert tuple(step) == (None, "scheduled")
