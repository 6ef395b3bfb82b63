"""The region rule for every allocation and disbursement endpoint, through both doors.

The setting: a Kabupaten Tegal allocation (33.28) and payments from it to families of Guci
village (33.28.02.2001). An allocation is seen inside its regency; a disbursement inside its
recipient's village, so the village's own system sees the payments to its families. Spending
(paying, moving a payment) needs write access to the allocation's region. Reads outside answer
404 as if the record did not exist; writes outside answer 403 (a change to a record one cannot
even see answers 404, as everywhere).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import (
    ClientFactory,
    IssuedClient,
    allocation_body,
    disbursement_body,
    insert_families,
    money_headers,
    move_disbursement,
    new_allocation,
    new_disbursement,
    reconciliation_csv,
)


@dataclass(frozen=True)
class Reach:
    sees_allocation: bool
    sees_payments: bool
    may_spend: bool


CALLERS: dict[str, Reach] = {
    "national": Reach(True, True, True),
    "33": Reach(True, True, True),  # Jawa Tengah, the province above
    "32": Reach(False, False, False),  # another province
    "33.28": Reach(True, True, True),  # Tegal itself
    "33.29": Reach(False, False, False),  # Brebes, the neighbouring regency
    "33.28.02": Reach(False, True, False),  # Bumijawa district: sees its families' payments
    "33.28.02.2001": Reach(False, True, False),  # Guci's village system
}


@dataclass
class Setting:
    allocation: dict[str, Any]
    scheduled: dict[str, Any]
    sent: dict[str, Any]
    spare_family: str


@pytest.fixture
async def setting(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> Setting:
    owner = await clients(region="33.28")
    allocation = await new_allocation(http, owner)
    one, two, spare = await insert_families(session, "33.28.02.2001", 3)
    scheduled = await new_disbursement(http, owner, allocation["id"], one)
    sent = await new_disbursement(http, owner, allocation["id"], two)
    moved = await move_disbursement(http, owner, sent["id"], "sent", external_reference="MTX-1")
    assert moved.status_code == 200
    return Setting(allocation, scheduled, moved.json(), spare)


async def _client(clients: ClientFactory, caller: str) -> IssuedClient:
    return await clients(region=None if caller == "national" else caller)


async def _gql(http: httpx.AsyncClient, client: IssuedClient, query: str, **variables: Any) -> Any:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=client.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def _code(result: dict[str, Any]) -> str | None:
    errors = result.get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


@pytest.mark.parametrize(("caller", "reach"), CALLERS.items())
async def test_reads(
    probe: httpx.AsyncClient,
    clients: ClientFactory,
    setting: Setting,
    caller: str,
    reach: Reach,
) -> None:
    client = await _client(clients, caller)
    allocation_id = setting.allocation["id"]
    payment_id = setting.scheduled["id"]

    one = await probe.get(f"/api/v1/allocations/{allocation_id}", headers=client.headers)
    assert one.status_code == (200 if reach.sees_allocation else 404)
    listed = await probe.get("/api/v1/allocations?limit=500", headers=client.headers)
    assert (allocation_id in {a["id"] for a in listed.json()["items"]}) is reach.sees_allocation
    exported = await probe.get("/api/v1/allocations/export", headers=client.headers)
    assert (allocation_id in exported.text) is reach.sees_allocation

    payment = await probe.get(f"/api/v1/disbursements/{payment_id}", headers=client.headers)
    assert payment.status_code == (200 if reach.sees_payments else 404)
    history = await probe.get(
        f"/api/v1/disbursements/{payment_id}/transitions", headers=client.headers
    )
    assert history.status_code == (200 if reach.sees_payments else 404)
    payments = await probe.get(
        "/api/v1/disbursements", params={"limit": 500}, headers=client.headers
    )
    assert (payment_id in {d["id"] for d in payments.json()["items"]}) is reach.sees_payments
    payments_file = await probe.get("/api/v1/disbursements/export", headers=client.headers)
    assert (payment_id in payments_file.text) is reach.sees_payments
    if not reach.sees_payments:  # indistinguishable from a payment that does not exist
        missing = await probe.get(
            "/api/v1/disbursements/00000000-0000-4000-8000-000000000000", headers=client.headers
        )
        assert payment.json()["detail"] == missing.json()["detail"]

    gql = await _gql(
        probe, client, "query($a: UUID!) { allocation(id: $a) { id } }", a=allocation_id
    )
    assert _code(gql) == (None if reach.sees_allocation else "not_found")
    gql = await _gql(
        probe,
        client,
        "query($d: UUID!) { disbursement(id: $d) { id transitions { toStatus } } }",
        d=payment_id,
    )
    assert _code(gql) == (None if reach.sees_payments else "not_found")
    gql = await _gql(
        probe,
        client,
        "{ allocations(limit: 500) { items { id } } disbursements(limit: 500) { items { id } } }",
    )
    assert (
        allocation_id in {a["id"] for a in gql["data"]["allocations"]["items"]}
    ) is reach.sees_allocation
    assert (
        payment_id in {d["id"] for d in gql["data"]["disbursements"]["items"]}
    ) is reach.sees_payments


@pytest.mark.parametrize(("caller", "reach"), CALLERS.items())
async def test_allocation_writes(
    probe: httpx.AsyncClient,
    clients: ClientFactory,
    setting: Setting,
    caller: str,
    reach: Reach,
) -> None:
    client = await _client(clients, caller)
    created = await probe.post(
        "/api/v1/allocations", json=allocation_body(fiscal_year=2027), headers=client.headers
    )
    assert created.status_code == (201 if reach.may_spend else 403), created.text
    if not reach.may_spend:
        assert created.json()["code"] == "outside_region"

    patched = await probe.patch(
        f"/api/v1/allocations/{setting.allocation['id']}",
        json={"amount": 2_000_000_000},
        headers={**client.headers, "If-Match": '"1"'},
    )
    assert patched.status_code == (200 if reach.sees_allocation else 404)

    gql = await _gql(
        probe,
        client,
        "mutation($i: AllocationCreateInput!) { createAllocation(input: $i) { id } }",
        i={
            "programCode": "PKH",
            "fiscalYear": 2026,
            "fundingSource": "APBN",
            "regionCode": "3328",
            "amount": 5_000_000_000,
        },
    )
    assert _code(gql) == (None if reach.may_spend else "outside_region")
    gql = await _gql(
        probe,
        client,
        "mutation($a: UUID!, $v: Int!) { updateAllocation(id: $a, expectedVersion: $v,"
        ' input: {fundingSource: "APBN"}) { version } }',
        a=setting.allocation["id"],
        v=2 if reach.sees_allocation else 1,
    )
    assert _code(gql) == (None if reach.sees_allocation else "not_found")


@pytest.mark.parametrize(("caller", "reach"), CALLERS.items())
async def test_disbursement_writes(
    probe: httpx.AsyncClient,
    clients: ClientFactory,
    setting: Setting,
    caller: str,
    reach: Reach,
) -> None:
    client = await _client(clients, caller)
    allocation_id = setting.allocation["id"]
    body = disbursement_body(allocation_id, setting.spare_family)
    created = await probe.post("/api/v1/disbursements", json=body, headers=money_headers(client))
    assert created.status_code == (201 if reach.may_spend else 403), created.text
    if not reach.may_spend:
        assert created.json()["code"] == "outside_region"

    batch = await probe.post(
        "/api/v1/disbursements/batches",
        json={"items": [{**body, "period": "2026-Q2"}]},
        headers=money_headers(client),
    )
    (item,) = batch.json()["items"]
    assert (item["status"], (item["error"] or {}).get("code")) == (
        ("created", None) if reach.may_spend else ("refused", "outside_region")
    )

    moved = await move_disbursement(probe, client, setting.scheduled["id"], "sent")
    expected = 200 if reach.may_spend else 403 if reach.sees_payments else 404
    assert moved.status_code == expected, moved.text

    content = reconciliation_csv([("MTX-1", "confirmed", 2_500_000, "2026-02-03")])
    settled = (
        await probe.post(
            "/api/v1/disbursements/reconciliations", content=content, headers=money_headers(client)
        )
    ).json()
    codes = [m["code"] for m in settled["mismatches"]]
    if reach.may_spend:
        assert (settled["confirmed"], codes) == (1, [])
    else:
        assert codes == ["outside_region" if reach.sees_payments else "unknown_reference"]

    mutation = (
        "mutation($k: String!, $i: DisbursementCreateInput!) {"
        " createDisbursement(idempotencyKey: $k, input: $i) { id } }"
    )
    gql = await _gql(
        probe,
        client,
        mutation,
        k=f"gql-{caller}",
        i={
            "allocationId": allocation_id,
            "recipientKind": "kpm",
            "recipientId": setting.spare_family,
            "amount": 1_000_000,
            "purpose": "Modal usaha",
            "channel": "pos",
            "period": "2026-Q3",
        },
    )
    assert _code(gql) == (None if reach.may_spend else "outside_region")
    gql = await _gql(
        probe,
        client,
        "mutation($k: String!, $d: UUID!) { transitionDisbursement(idempotencyKey: $k, id: $d,"
        ' input: {to: "confirmed", note: "Diterima"}) { status } }',
        k=f"gql-move-{caller}",
        d=setting.sent["id"],
    )
    if reach.may_spend:
        # The reconciliation above confirmed it already.
        assert _code(gql) == "invalid_transition"
    else:
        assert _code(gql) == ("outside_region" if reach.sees_payments else "not_found")

    gql = await _gql(
        probe,
        client,
        "mutation($k: String!, $items: [DisbursementCreateInput!]!) {"
        " createDisbursementBatch(idempotencyKey: $k, items: $items) {"
        " items { status error { code } } } }",
        k=f"gql-batch-{caller}",
        items=[
            {
                "allocationId": allocation_id,
                "recipientKind": "kpm",
                "recipientId": setting.spare_family,
                "amount": 1_000_000,
                "purpose": "Modal usaha",
                "channel": "pos",
                "period": "2026-Q4",
            }
        ],
    )
    (item,) = gql["data"]["createDisbursementBatch"]["items"]
    assert (item["status"], (item["error"] or {}).get("code")) == (
        ("created", None) if reach.may_spend else ("refused", "outside_region")
    )
    upload = await probe.post(
        "/graphql",
        data={
            "operations": json.dumps(
                {
                    "query": "mutation($k: String!, $f: Upload!) { reconcileDisbursements("
                    "idempotencyKey: $k, file: $f) { unchanged mismatches { code } } }",
                    "variables": {"k": f"gql-file-{caller}", "f": None},
                }
            ),
            "map": json.dumps({"0": ["variables.f"]}),
        },
        files={"0": ("settlement.csv", content, "text/csv")},
        headers=client.headers,
    )
    settled = upload.json()["data"]["reconcileDisbursements"]
    codes = [m["code"] for m in settled["mismatches"]]
    if reach.may_spend:  # the REST file above settled it already
        assert (settled["unchanged"], codes) == (1, [])
    else:
        assert codes == ["outside_region" if reach.sees_payments else "unknown_reference"]
