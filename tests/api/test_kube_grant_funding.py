"""KUBE grants paid from a budget: the allocation must fit the grant, and a funded grant is
disbursed only by a payment from it."""

from __future__ import annotations

import uuid
from typing import Any
from unittest.mock import ANY

import httpx
import pytest

from tests.api.kube_setup import OFFICE, active_group, grant_move
from tests.factories import ClientFactory, IssuedClient, grant_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def test_a_grant_is_paid_from_a_fitting_allocation(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=[*OFFICE, "allocations:write"])
    province = await clients(region="33", scopes=["allocations:read", "allocations:write"])
    group = await active_group(http, office)

    async def allocate(client: IssuedClient, **body: Any) -> str:
        made = await http.post(
            "/api/v1/allocations",
            json={"fiscal_year": 2026, "amount": 180_000_000, **body},
            headers=client.headers,
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    # The province allocates KUBE grants to Kabupaten Tegal from its own budget.
    fitting = await allocate(province, program_code="KUBE", funding_source="APBD_PROVINSI",
                             region_code="33.28")  # fmt: skip
    brebes = await allocate(province, program_code="KUBE", funding_source="APBD_PROVINSI",
                            region_code="33.29")  # fmt: skip
    pk3e = await allocate(office, program_code="PK3E", funding_source="APBD_KABKOTA",
                          region_code="33.28")  # fmt: skip

    for allocation, code in (
        (str(uuid.uuid4()), "unknown_allocation"),
        (brebes, "unknown_allocation"),  # the regency office cannot see Brebes' budget
        (pk3e, "allocation_program_mismatch"),
    ):
        refused = await http.post(
            "/api/v1/kube-grants",
            json=grant_body(group["id"], allocation_id=allocation),
            headers=office.headers,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0] == {
            "field": "allocation_id", "code": code, "message": ANY,
        }  # fmt: skip
    national = await clients(scopes=[*OFFICE])
    elsewhere = await http.post(
        "/api/v1/kube-grants",
        json=grant_body(group["id"], allocation_id=brebes),
        headers=national.headers,
    )
    assert elsewhere.json()["errors"][0]["code"] == "allocation_elsewhere"

    made = await http.post(
        "/api/v1/kube-grants",
        json=grant_body(group["id"], allocation_id=fitting),
        headers=office.headers,
    )
    assert made.status_code == 201, made.text
    read = await http.get(f"/api/v1/kube-grants/{made.json()['id']}", headers=office.headers)
    assert read.json()["allocation_id"] == fitting


async def test_a_funded_grant_is_disbursed_only_by_a_payment(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28")  # every scope: kube, allocations, disbursements
    group = await active_group(http, office)
    allocation = (
        await http.post(
            "/api/v1/allocations",
            json={"program_code": "KUBE", "fiscal_year": 2026, "funding_source": "APBD_PROVINSI",
                  "region_code": "33.28", "amount": 40_000_000},
            headers=office.headers,
        )
    ).json()["id"]  # fmt: skip
    grant = (
        await http.post(
            "/api/v1/kube-grants",
            json=grant_body(group["id"], allocation_id=allocation),
            headers=office.headers,
        )
    ).json()
    province = await clients(region="33")
    assert (await grant_move(http, province, grant["id"], "recommended")).status_code == 200
    assert (await grant_move(http, office, grant["id"], "approved")).status_code == 200
    unpaid = await grant_move(http, office, grant["id"], "disbursed")
    assert (unpaid.status_code, unpaid.json()["code"]) == (409, "grant_not_paid")

    payment = await http.post(
        "/api/v1/disbursements",
        json={"allocation_id": allocation, "recipient_kind": "kube", "recipient_id": group["id"],
              "amount": 20_000_000, "purpose": "Bantuan modal KUBE", "channel": "bank_transfer",
              "period": "2026"},
        headers={**office.headers, "Idempotency-Key": str(uuid.uuid4())},
    )  # fmt: skip
    assert payment.status_code == 201, payment.text
    scheduled_only = await grant_move(http, office, grant["id"], "disbursed")
    assert scheduled_only.json()["code"] == "grant_not_paid"  # scheduled is not paid yet
    sent = await http.post(
        f"/api/v1/disbursements/{payment.json()['id']}/transitions",
        json={"to": "sent", "note": "Transfer", "external_reference": "KUBE-GRANT-1"},
        headers={**office.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert sent.status_code == 200, sent.text
    paid = await grant_move(http, office, grant["id"], "disbursed")
    assert paid.status_code == 200, paid.text
    budget = await http.get(f"/api/v1/allocations/{allocation}", headers=office.headers)
    assert budget.json()["committed"] == 20_000_000
