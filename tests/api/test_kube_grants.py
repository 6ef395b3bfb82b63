"""KUBE grants: the lifecycle with its history, audit and change events; refused and allowed
transitions; who recommends; the rules on proposing and changing a grant."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from tests.api.kube_setup import (
    GUCI,
    OFFICE,
    active_group,
    create_group,
    families,
    grant_move,
    move,
)
from tests.factories import ClientFactory, grant_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def test_grant_lifecycle_with_history_reports_audit_and_events(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    regency = await clients(region="33.28", scopes=OFFICE, name="Dinsos Kabupaten Tegal")
    province = await clients(region="33", scopes=OFFICE, name="Dinsos Provinsi Jawa Tengah")
    group = await active_group(http, regency)
    created = await http.post(
        "/api/v1/kube-grants", json=grant_body(group["id"]), headers=regency.headers
    )
    assert created.status_code == 201, created.text
    grant = created.json()
    assert (grant["status"], grant["amount"], grant["village_code"], grant["allocation_id"]) == (
        "proposed",
        20_000_000,
        GUCI,
        None,
    )
    grant_id = grant["id"]

    assert (
        await grant_move(http, province, grant_id, "recommended", "Sesuai DTSEN")
    ).status_code == 200
    assert (await grant_move(http, regency, grant_id, "approved")).status_code == 200
    assert (
        await grant_move(http, regency, grant_id, "disbursed", "Transfer BRI")
    ).status_code == 200
    reports_url = f"/api/v1/kube-grants/{grant_id}/reports"
    first = await http.post(
        reports_url,
        json={"report_date": "2026-09-30", "revenue": 4_500_000, "active_members": 5},
        headers=regency.headers,
    )
    assert first.status_code == 201, first.text
    read = (await http.get(f"/api/v1/kube-grants/{grant_id}", headers=regency.headers)).json()
    assert read["status"] == "reporting"  # the first report moved it
    await http.post(
        reports_url,
        json={
            "report_date": "2026-06-30",
            "revenue": 3_000_000_000,  # past 32 bits: GraphQL must carry it whole
            "active_members": 4,
            "notes": "Pesanan katering hajatan",
        },
        headers=regency.headers,
    )
    reports = (await http.get(reports_url, headers=regency.headers)).json()
    assert [(r["report_date"], r["revenue"], r["active_members"]) for r in reports] == [
        ("2026-06-30", 3_000_000_000, 4),
        ("2026-09-30", 4_500_000, 5),
    ]
    closed = await grant_move(http, regency, grant_id, "closed", "Usaha berjalan")
    assert closed.status_code == 200
    assert closed.headers["etag"] == f'"{closed.json()["version"]}"'

    history = (
        await http.get(f"/api/v1/kube-grants/{grant_id}/transitions", headers=regency.headers)
    ).json()
    assert [(h["from_status"], h["to_status"], h["by_name"], h["note"]) for h in history] == [
        (None, "proposed", "Dinsos Kabupaten Tegal", None),
        ("proposed", "recommended", "Dinsos Provinsi Jawa Tengah", "Sesuai DTSEN"),
        ("recommended", "approved", "Dinsos Kabupaten Tegal", None),
        ("approved", "disbursed", "Dinsos Kabupaten Tegal", "Transfer BRI"),
        ("disbursed", "reporting", "Dinsos Kabupaten Tegal", "First business report."),
        ("reporting", "closed", "Dinsos Kabupaten Tegal", "Usaha berjalan"),
    ]
    assert history[1]["by_client"] == province.client_id

    events = (
        await session.scalars(
            select(ChangeEvent)
            .where(col(ChangeEvent.record_id) == grant_id)
            .order_by(col(ChangeEvent.id))
        )
    ).all()
    assert [(e.entity, e.action, e.version) for e in events] == [
        ("kube_grant", "create", 1),
        ("kube_grant", "transition", 2),
        ("kube_grant", "transition", 3),
        ("kube_grant", "transition", 4),
        ("kube_grant", "report", 5),
        ("kube_grant", "report", 6),
        ("kube_grant", "transition", 7),
    ]
    audits = (
        await session.scalars(
            select(AuditEntry)
            .where(col(AuditEntry.record_id) == grant_id)
            .order_by(col(AuditEntry.id))
        )
    ).all()
    assert audits[0].changes is not None
    assert audits[0].changes["amount"] == [None, 20_000_000]
    assert audits[4].changes == {
        "reports": [None, "2026-09-30"],
        "status": ["disbursed", "reporting"],
    }
    assert str(audits[1].client_id) == province.client_id


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], "approved"),  # a proposal is recommended first
        ([], "disbursed"),
        ([], "closed"),
        (["recommended"], "disbursed"),
        (["recommended", "approved"], "rejected"),  # rejection is before approval only
        (["recommended", "approved"], "reporting"),  # reports move it there, not a transition
        (["recommended", "approved", "disbursed"], "cancelled"),  # money paid: no cancelling
        (["recommended", "approved", "disbursed"], "reporting"),
        (["rejected"], "proposed"),
        (["cancelled"], "recommended"),
    ],
)
async def test_refused_grant_transitions(
    http: httpx.AsyncClient, clients: ClientFactory, path: list[str], refused: str
) -> None:
    national = await clients(scopes=OFFICE)
    group = await active_group(http, national)
    grant = (
        await http.post(
            "/api/v1/kube-grants", json=grant_body(group["id"]), headers=national.headers
        )
    ).json()
    for step in path:
        assert (await grant_move(http, national, grant["id"], step)).status_code == 200
    response = await grant_move(http, national, grant["id"], refused)
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    read = (await http.get(f"/api/v1/kube-grants/{grant['id']}", headers=national.headers)).json()
    assert read["status"] == (path[-1] if path else "proposed")


@pytest.mark.parametrize(
    ("path", "to"),
    [
        ([], "rejected"),
        (["recommended"], "rejected"),
        (["recommended", "approved"], "cancelled"),
        ([], "cancelled"),
    ],
)
async def test_allowed_endings(
    http: httpx.AsyncClient, clients: ClientFactory, path: list[str], to: str
) -> None:
    national = await clients(scopes=OFFICE)
    group = await active_group(http, national)
    grant = (
        await http.post(
            "/api/v1/kube-grants", json=grant_body(group["id"]), headers=national.headers
        )
    ).json()
    for step in [*path, to]:
        assert (await grant_move(http, national, grant["id"], step)).status_code == 200
    # a grant that ended frees the group for a new one
    again = await http.post(
        "/api/v1/kube-grants", json=grant_body(group["id"]), headers=national.headers
    )
    assert again.status_code == 201


@pytest.mark.parametrize(
    ("caller", "allowed"),
    [("national", True), ("33", True), ("33.28", False), ("33.28.02", False), (GUCI, False)],
)
async def test_only_the_province_recommends(
    http: httpx.AsyncClient, clients: ClientFactory, caller: str, allowed: bool
) -> None:
    owner = await clients(region=GUCI, scopes=OFFICE)
    group = await active_group(http, owner)
    grant = (
        await http.post("/api/v1/kube-grants", json=grant_body(group["id"]), headers=owner.headers)
    ).json()
    client = await clients(region=None if caller == "national" else caller, scopes=OFFICE)
    response = await grant_move(http, client, grant["id"], "recommended")
    assert response.status_code == (200 if allowed else 403)
    if not allowed:
        assert response.json()["code"] == "province_required"


async def test_grant_rules(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    province = await clients(region="33", scopes=OFFICE)
    forming = await create_group(http, office, await families(http, office, 2))
    not_active = await http.post(
        "/api/v1/kube-grants", json=grant_body(forming["id"]), headers=office.headers
    )
    assert not_active.status_code == 409
    assert not_active.json()["code"] == "group_not_active"

    group = await active_group(http, office)
    grant = (
        await http.post("/api/v1/kube-grants", json=grant_body(group["id"]), headers=office.headers)
    ).json()
    second = await http.post(
        "/api/v1/kube-grants", json=grant_body(group["id"]), headers=office.headers
    )
    assert second.status_code == 409
    assert second.json()["code"] == "open_grant_exists"
    dissolve = await move(http, office, group["id"], "dissolved")
    assert dissolve.json()["code"] == "open_grant"

    url = f"/api/v1/kube-grants/{grant['id']}"
    treasurer = await clients(region="33.28")  # every scope, allocations:write included
    allocation = (
        await http.post(
            "/api/v1/allocations",
            json={"program_code": "KUBE", "fiscal_year": 2026, "funding_source": "APBD_KABKOTA",
                  "region_code": "33.28", "amount": 180_000_000},
            headers=treasurer.headers,
        )
    ).json()["id"]  # fmt: skip
    patched = await http.patch(
        url,
        json={"amount": 19_500_000, "allocation_id": allocation},
        headers={**office.headers, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["amount"], patched.json()["allocation_id"]) == (19_500_000, allocation)
    assert patched.headers["etag"] == '"2"'
    assert (await http.patch(url, json={"amount": 1}, headers=office.headers)).status_code == 428
    await grant_move(http, province, grant["id"], "recommended")
    await grant_move(http, office, grant["id"], "approved")
    locked = await http.patch(
        url, json={"amount": 25_000_000}, headers={**office.headers, "If-Match": '"4"'}
    )
    assert locked.status_code == 409
    assert locked.json()["code"] == "grant_locked"
    early_report = await http.post(
        f"{url}/reports",
        json={"report_date": "2026-09-30", "revenue": 0, "active_members": 5},
        headers=office.headers,
    )
    assert early_report.status_code == 409
    assert early_report.json()["code"] == "not_reporting"
    # The grant is funded by the treasurer's allocation: its money goes out first.
    payment = await http.post(
        "/api/v1/disbursements",
        json={"allocation_id": allocation, "recipient_kind": "kube", "recipient_id": group["id"],
              "amount": 19_500_000, "purpose": "Bantuan modal KUBE", "channel": "bank_transfer",
              "period": "2026"},
        headers={**treasurer.headers, "Idempotency-Key": str(uuid.uuid4())},
    )  # fmt: skip
    await http.post(
        f"/api/v1/disbursements/{payment.json()['id']}/transitions",
        json={"to": "sent", "note": "Transfer", "external_reference": "KUBE-RULES-1"},
        headers={**treasurer.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert (await grant_move(http, office, grant["id"], "disbursed")).status_code == 200
    future = await http.post(
        f"{url}/reports",
        json={"report_date": "2099-01-01", "revenue": 0, "active_members": 5},
        headers=office.headers,
    )
    assert future.status_code == 422
    assert future.json()["errors"][0]["field"] == "report_date"
    negative = await http.post(
        f"{url}/reports",
        json={"report_date": "2026-09-30", "revenue": -5, "active_members": 5},
        headers=office.headers,
    )
    assert negative.json()["errors"][0]["field"] == "revenue"
    listed = await http.get(
        "/api/v1/kube-grants", params={"status": "disbursed"}, headers=office.headers
    )
    assert [g["id"] for g in listed.json()["items"]] == [grant["id"]]
    by_group = await http.get(
        "/api/v1/kube-grants", params={"group_id": group["id"]}, headers=office.headers
    )
    assert [g["id"] for g in by_group.json()["items"]] == [grant["id"]]
