"""Disbursements refused: each refusal names its field and changes nothing, bad input, unique
external references, live recipients, refusals in Indonesian."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.disbursements.recipients import recipient_region
from service.kube.tables import KubeGroup
from tests.factories import (
    ClientFactory,
    allocation_state,
    disbursement_body,
    insert_families,
    money_headers,
    move_disbursement,
    new_allocation,
    new_disbursement,
)


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
    assert await allocation_state(http, national, allocation["id"]) == (0, 0, 5_000_000)
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
