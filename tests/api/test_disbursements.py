"""Disbursements one by one: creation and its refusals, the status machine, budget freed by
failures and reversals, once per recipient, program and period."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from service.disbursements.recipients import recipient_region
from service.kube.tables import KubeGroup
from tests.factories import (
    ClientFactory,
    IssuedClient,
    allocation_body,
    committed_families,
    disbursement_body,
    insert_families,
    money_headers,
    move_disbursement,
    new_allocation,
    new_disbursement,
    program_body,
)


async def _allocation_state(
    http: httpx.AsyncClient, client: IssuedClient, allocation_id: str
) -> tuple[int, int, int]:
    body = (await http.get(f"/api/v1/allocations/{allocation_id}", headers=client.headers)).json()
    return body["committed"], body["confirmed"], body["remaining"]


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
    assert await _allocation_state(http, office, allocation["id"]) == (
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
    assert await _allocation_state(http, office, allocation["id"]) == (4_000_000, 0, 6_000_000)

    confirmed = await move_disbursement(http, office, url, "confirmed", note="Diterima KPM")
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.headers["etag"] == '"3"'
    assert await _allocation_state(http, office, allocation["id"]) == (
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
    assert await _allocation_state(http, office, allocation["id"]) == (0, 0, 10_000_000)
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
    assert await _allocation_state(http, office, allocation["id"]) == (0, 0, 2_500_000)
    # The same recipient and period may be paid again: the failed payment does not count.
    again = await new_disbursement(http, office, allocation["id"], family)
    assert again["id"] != first["id"]
    assert await _allocation_state(http, office, allocation["id"]) == (2_500_000, 0, 0)


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


async def test_refusals_name_their_field_and_change_nothing(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    national = await clients()
    allocation = await new_allocation(http, national, amount=5_000_000)
    guci, brebes = (
        (await insert_families(session, "33.28.02.2001", 1))[0],
        (await insert_families(session, "33.29.01.2001", 1))[0],
    )
    await session.execute(
        text("UPDATE kpm_family SET archived_at = now() WHERE id = :id"), {"id": guci}
    )
    (live,) = await insert_families(session, "33.28.02.2001", 1)
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"allocation_id": str(uuid.uuid4())}, 422, "unknown_allocation", "allocation_id"),
        ({"recipient_id": str(uuid.uuid4())}, 422, "unknown_recipient", "recipient_id"),
        ({"recipient_id": guci}, 422, "unknown_recipient", "recipient_id"),  # archived
        ({"recipient_kind": "kube"}, 422, "unknown_recipient", "recipient_id"),
        ({"recipient_id": brebes}, 422, "recipient_outside_allocation", "recipient_id"),
        ({"period": "2027-Q1"}, 422, "period_outside_fiscal_year", "period"),
        ({"amount": 5_000_001}, 409, "allocation_exhausted", "amount"),
    ]
    for overrides, status, code, field in cases:
        body = {**disbursement_body(allocation["id"], live), **overrides}
        response = await http.post(
            "/api/v1/disbursements", json=body, headers=money_headers(national)
        )
        assert response.status_code == status, (overrides, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == (code if status == 409 else "validation_failed")
        assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, code)]
    assert await _allocation_state(http, national, allocation["id"]) == (0, 0, 5_000_000)
    listed = await http.get(
        "/api/v1/disbursements",
        params={"allocation_id": allocation["id"]},
        headers=national.headers,
    )
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"amount": 0}, "amount", "greater_than_equal"),
        ({"amount": 2500000.5}, "amount", "int_type"),
        ({"amount": 2500000.0}, "amount", "int_type"),  # money is never a float
        ({"amount": "2500000"}, "amount", "int_type"),
        ({"channel": "wire"}, "channel", "enum"),
        ({"recipient_kind": "person"}, "recipient_kind", "enum"),
        ({"period": "2026-Q5"}, "period", "string_pattern_mismatch"),
        ({"period": "2026-13"}, "period", "string_pattern_mismatch"),
        ({"purpose": ""}, "purpose", "string_too_short"),
        ({"allocation_id": "not-a-uuid"}, "allocation_id", "uuid_parsing"),
        ({"note": "x"}, "note", "extra_forbidden"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    overrides: dict[str, Any],
    field: str,
    code: str,
) -> None:
    office = await clients(region="33.28")
    body = {**disbursement_body(str(uuid.uuid4()), str(uuid.uuid4())), **overrides}
    response = await http.post("/api/v1/disbursements", json=body, headers=money_headers(office))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(field, code)]


async def test_external_references_are_unique(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office)
    one, two = await insert_families(session, "33.28.02.2001", 2)
    first = await new_disbursement(http, office, allocation["id"], one, external_reference="R-1")
    clash = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], two, external_reference="R-1"),
        headers=money_headers(office),
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "duplicate_external_reference"
    second = await new_disbursement(http, office, allocation["id"], two)
    taken = await move_disbursement(http, office, second["id"], "sent", external_reference="R-1")
    assert taken.status_code == 409
    assert taken.json()["code"] == "duplicate_external_reference"
    fixed = await move_disbursement(http, office, first["id"], "sent", external_reference="R-9")
    assert fixed.status_code == 409
    assert fixed.json()["code"] == "external_reference_set"
    same = await move_disbursement(http, office, first["id"], "sent", external_reference="R-1")
    assert same.status_code == 200
    found = await http.get(
        "/api/v1/disbursements", params={"external_reference": "R-1"}, headers=office.headers
    )
    assert [item["id"] for item in found.json()["items"]] == [first["id"]]
    assert (await move_disbursement(http, office, second["id"], "sent")).json()[
        "external_reference"
    ] is None


async def test_transition_input_is_checked(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28")
    missing = await http.post(
        f"/api/v1/disbursements/{uuid.uuid4()}/transitions",
        json={"to": "paid"},
        headers=money_headers(office),
    )
    assert missing.status_code == 422
    assert {(e["field"], e["code"]) for e in missing.json()["errors"]} == {
        ("to", "enum"),
        ("note", "missing"),
    }
    unknown = await move_disbursement(http, office, str(uuid.uuid4()), "sent")
    assert unknown.status_code == 404


async def test_recipients_are_live_families_and_standing_kube_groups(
    session: AsyncSession,
) -> None:
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    assert await recipient_region(session, "kpm", uuid.UUID(family)) == "33.28.02.2001"
    group = KubeGroup(
        name="KUBE Sumber Rejeki", village_code="33.28.02.2001", program_code="KUBE",
        business_category="perdagangan", status="active",
    )  # fmt: skip
    session.add(group)
    await session.flush()
    assert await recipient_region(session, "kube", group.id) == "33.28.02.2001"
    assert await recipient_region(session, "kube", uuid.uuid4()) is None
    assert await recipient_region(session, "kube", uuid.UUID(family)) is None  # not a group
    group.status = "dissolved"
    await session.flush()
    assert await recipient_region(session, "kube", group.id) is None


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


async def test_refusals_speak_indonesian_when_asked(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28")
    allocation = await new_allocation(http, office, amount=1_000_000)
    (family,) = await insert_families(session, "33.28.02.2001", 1)
    exhausted = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], family),
        headers={**money_headers(office), "Accept-Language": "id"},
    )
    assert exhausted.status_code == 409
    assert exhausted.json()["detail"] == "Sisa alokasi tidak cukup untuk jumlah ini."
    no_key = await http.post(
        "/api/v1/disbursements",
        json=disbursement_body(allocation["id"], family),
        headers={**office.headers, "Accept-Language": "id"},
    )
    assert no_key.status_code == 428
    assert no_key.json()["title"] == "Prasyarat diperlukan"
    assert no_key.json()["detail"].startswith("Kirim header Idempotency-Key")
