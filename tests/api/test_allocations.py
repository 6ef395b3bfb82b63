"""Budget allocations: the budget an office sets, and the invariant that its committed sum never
exceeds it, also under parallel requests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
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


async def test_create_then_read_back_with_audit_and_change_event(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    created = await http.post(
        "/api/v1/allocations",
        json=allocation_body(region_code="3328", amount=1_600_000_000),
        headers=office.headers,
    )
    assert created.status_code == 201, created.text
    allocation = created.json()
    assert created.headers["location"] == f"/api/v1/allocations/{allocation['id']}"
    assert created.headers["etag"] == '"1"'

    read = await http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'
    body = read.json()
    assert {key: body[key] for key in allocation_body()} == {
        "program_code": "PK3E",
        "fiscal_year": 2026,
        "funding_source": "APBD_KABKOTA",
        "region_code": "33.28",  # stored and answered dotted
        "amount": 1_600_000_000,
    }
    assert (body["committed"], body["confirmed"], body["remaining"]) == (0, 0, 1_600_000_000)

    audit = (
        await session.scalars(
            select(AuditEntry).where(col(AuditEntry.record_id) == allocation["id"])
        )
    ).one()
    assert (audit.entity, audit.action, audit.region_code) == ("allocation", "create", "33.28")
    assert audit.changes is not None
    assert audit.changes["amount"] == [None, 1_600_000_000]
    event = (
        await session.scalars(
            select(ChangeEvent).where(col(ChangeEvent.record_id) == allocation["id"])
        )
    ).one()
    assert (event.entity, event.action, event.version) == ("allocation", "create", 1)


async def test_patch_with_if_match_and_never_below_committed(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=10_000_000)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    await new_disbursement(http, office, allocation["id"], family, amount=4_000_000)
    url = f"/api/v1/allocations/{allocation['id']}"

    missing = await http.patch(url, json={"amount": 9_000_000}, headers=office.headers)
    assert missing.status_code == 428
    changed = await http.patch(
        url, json={"amount": 6_000_000}, headers={**office.headers, "If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"'
    stale = await http.patch(
        url, json={"amount": 7_000_000}, headers={**office.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    below = await http.patch(
        url, json={"amount": 3_999_999}, headers={**office.headers, "If-Match": '"2"'}
    )
    assert below.status_code == 409
    assert below.json()["code"] == "amount_below_committed"
    assert below.json()["errors"][0]["field"] == "amount"
    exact = await http.patch(
        url, json={"amount": 4_000_000}, headers={**office.headers, "If-Match": '"2"'}
    )
    assert exact.status_code == 200

    read = (await http.get(url, headers=office.headers)).json()
    assert (read["amount"], read["committed"], read["remaining"], read["version"]) == (
        4_000_000,
        4_000_000,
        0,
        3,
    )
    updates = (
        await session.scalars(
            select(AuditEntry).where(
                col(AuditEntry.record_id) == allocation["id"], col(AuditEntry.action) == "update"
            )
        )
    ).all()
    assert [entry.changes for entry in updates] == [
        {"amount": [10_000_000, 6_000_000]},
        {"amount": [6_000_000, 4_000_000]},
    ]


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"amount": 1.5}, "amount", "int_type"),
        ({"amount": "1000000"}, "amount", "int_type"),
        ({"amount": 0}, "amount", "greater_than_equal"),
        ({"fiscal_year": 1999}, "fiscal_year", "greater_than_equal"),
        ({"funding_source": "APBD"}, "funding_source", "enum"),
        ({"region_code": "33.28.02.2001"}, "region_code", "wrong_level"),
        ({"region_code": "99.01"}, "region_code", "unknown_region"),
        ({"region_code": "Tegal"}, "region_code", "invalid_region_code"),
        ({"program_code": "NOSUCH"}, "program_code", "unknown_program"),
        ({"surprise": True}, "surprise", "extra_forbidden"),
    ],
)
async def test_bad_input_names_the_field(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    overrides: dict[str, Any],
    field: str,
    code: str,
) -> None:
    office = await clients(region="33.28")
    response = await http.post(
        "/api/v1/allocations", json=allocation_body(**overrides), headers=office.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {(field, code)}


async def test_local_program_money_stays_in_its_region(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    province = await clients(region="33")
    program = program_body(region_code="33.28")  # a Tegal program
    assert (
        await http.post("/api/v1/programs", json=program, headers=province.headers)
    ).status_code == 201
    brebes = await http.post(
        "/api/v1/allocations",
        json=allocation_body(program_code=program["code"], region_code="33.29"),
        headers=province.headers,
    )
    assert brebes.status_code == 422
    assert brebes.json()["errors"][0]["code"] == "outside_program_region"


async def test_one_allocation_per_program_year_source_and_region(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")
    await new_allocation(http, office)
    again = await http.post("/api/v1/allocations", json=allocation_body(), headers=office.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_allocation"
    next_year = await http.post(
        "/api/v1/allocations", json=allocation_body(fiscal_year=2027), headers=office.headers
    )
    assert next_year.status_code == 201


async def test_list_filters_and_pages(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33")
    program = program_body(level="provincial", region_code="33", benefit_kind="capital")
    assert (
        await http.post("/api/v1/programs", json=program, headers=office.headers)
    ).status_code == 201
    tegal = [
        await new_allocation(http, office, program_code=program["code"], fiscal_year=year)
        for year in (2024, 2025, 2026)
    ]
    await new_allocation(http, office, program_code=program["code"], region_code="33.29")

    def ids(page: dict[str, Any]) -> list[str]:
        return [item["id"] for item in page["items"]]

    params = {"program": program["code"], "region": "3328", "limit": 2}
    first = (await http.get("/api/v1/allocations", params=params, headers=office.headers)).json()
    second = (
        await http.get(
            "/api/v1/allocations",
            params={**params, "cursor": first["next_cursor"]},
            headers=office.headers,
        )
    ).json()
    assert ids(first) + ids(second) == [a["id"] for a in tegal]
    assert second["next_cursor"] is None
    year = await http.get(
        "/api/v1/allocations",
        params={"program": program["code"], "fiscal_year": 2025},
        headers=office.headers,
    )
    assert ids(year.json()) == [tegal[1]["id"]]
    bad_cursor = await http.get(
        "/api/v1/allocations", params={"cursor": "nonsense"}, headers=office.headers
    )
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["field"] == "cursor"


async def test_scopes(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    reader = await clients(region="33.28", scopes=["allocations:read"])
    refused = await http.post("/api/v1/allocations", json=allocation_body(), headers=reader.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    outsider = await clients(region="33.28", scopes=["kpm:read"])
    listed = await http.get("/api/v1/allocations", headers=outsider.headers)
    assert listed.status_code == 403


async def test_parallel_disbursements_never_commit_more_than_the_amount(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    """50 payments at once against room for exactly 10: 10 go in, 40 are refused, and the
    allocation ends exactly full."""
    office = await live_clients(region="33.28")
    program = program_body()
    assert (
        await live_http.post("/api/v1/programs", json=program, headers=office.headers)
    ).status_code == 201
    created = await live_http.post(
        "/api/v1/allocations",
        json=allocation_body(program_code=program["code"], amount=10 * 2_500_000),
        headers=office.headers,
    )
    allocation = created.json()
    families = await committed_families(engine, "33.28.02.2001", 50)

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
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 10 + [409] * 40, [r.text for r in responses if r.status_code >= 500]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"allocation_exhausted"}

    read = (
        await live_http.get(f"/api/v1/allocations/{allocation['id']}", headers=office.headers)
    ).json()
    assert (read["committed"], read["remaining"]) == (read["amount"], 0)
    listed = (
        await live_http.get(
            "/api/v1/disbursements",
            params={"allocation_id": allocation["id"], "limit": 500},
            headers=office.headers,
        )
    ).json()
    assert len(listed["items"]) == 10
    assert {item["id"] for item in listed["items"]} == {
        r.json()["id"] for r in responses if r.status_code == 201
    }
    assert sum(item["amount"] for item in listed["items"]) == read["amount"]


async def test_budget_cuts_and_payments_in_parallel_keep_the_invariant(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    """An office cutting the budget while payments go out: the cut either waits for the
    payments and fits, or is refused; the committed sum never passes the amount."""
    office = await live_clients(region="33.28")
    program = program_body()
    await live_http.post("/api/v1/programs", json=program, headers=office.headers)
    allocation = (
        await live_http.post(
            "/api/v1/allocations",
            json=allocation_body(program_code=program["code"], amount=20 * 1_000_000),
            headers=office.headers,
        )
    ).json()
    families = await committed_families(engine, "33.28.02.2001", 20)
    url = f"/api/v1/allocations/{allocation['id']}"
    cut = live_http.patch(
        url, json={"amount": 10 * 1_000_000}, headers={**office.headers, "If-Match": '"1"'}
    )
    payments = [
        live_http.post(
            "/api/v1/disbursements",
            json=disbursement_body(allocation["id"], family, amount=1_000_000),
            headers=money_headers(office),
        )
        for family in families
    ]
    cut_response, *paid = await asyncio.gather(cut, *payments)
    read = (await live_http.get(url, headers=office.headers)).json()
    created = sum(1 for response in paid if response.status_code == 201)
    assert read["committed"] == created * 1_000_000 <= read["amount"]
    if cut_response.status_code == 200:
        assert read["amount"] == 10 * 1_000_000
        assert created <= 10
    else:
        assert cut_response.json()["code"] == "amount_below_committed"
        assert read["amount"] == 20 * 1_000_000


async def test_the_fiscal_year_stays_once_money_was_paid(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    unused = await new_allocation(http, office, fiscal_year=2027, amount=10_000_000)
    moved = await http.patch(
        f"/api/v1/allocations/{unused['id']}",
        json={"fiscal_year": 2028},
        headers={**office.headers, "If-Match": '"1"'},
    )
    assert (moved.status_code, moved.json()["fiscal_year"]) == (200, 2028)

    paid = await new_allocation(http, office, amount=10_000_000)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    await new_disbursement(http, office, paid["id"], family)
    refused = await http.patch(
        f"/api/v1/allocations/{paid['id']}",
        json={"fiscal_year": 2027},
        headers={**office.headers, "If-Match": '"1"'},
    )
    assert refused.status_code == 409
    assert refused.json()["errors"][0] == {
        "field": "fiscal_year", "code": "has_payments", "message": "Payments exist in this year.",
    }  # fmt: skip
    after = await http.get(f"/api/v1/allocations/{paid['id']}", headers=office.headers)
    assert after.json()["fiscal_year"] == 2026
