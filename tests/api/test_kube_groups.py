"""KUBE groups: read back after create, list filters, changes under If-Match, the status machine
and its activation rule, validation as problem+json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from tests.api.kube_setup import GUCI, OFFICE, active_group, create_group, families, move
from tests.factories import ClientFactory, grant_body, kube_group_body

pytestmark = pytest.mark.usefixtures("cheap_secret_hashing")


async def test_create_and_read_back_with_audit_and_change_event(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    family_ids = await families(http, office, 3)
    body = kube_group_body(family_ids=family_ids, village_code="3328022001")
    created = await http.post("/api/v1/kube", json=body, headers=office.headers)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    group_id = created.json()["id"]
    assert created.headers["location"] == f"/api/v1/kube/{group_id}"

    read = await http.get(f"/api/v1/kube/{group_id}", headers=office.headers)
    assert read.status_code == 200
    group = read.json()
    assert (group["name"], group["village_code"], group["program_code"]) == (
        body["name"],
        GUCI,  # stored and returned dotted
        "KUBE",
    )
    assert (group["status"], group["business_category"], group["version"]) == (
        "forming",
        "kuliner",
        1,
    )
    assert [(m["family_id"], m["role"]) for m in group["members"]] == [
        (family_ids[0], "ketua"),
        (family_ids[1], "anggota"),
        (family_ids[2], "anggota"),
    ]

    audit = (
        await session.scalars(select(AuditEntry).where(col(AuditEntry.record_id) == group_id))
    ).one()
    assert (audit.action, audit.entity, audit.region_code) == ("create", "kube", GUCI)
    assert str(audit.client_id) == office.client_id
    assert audit.request_id == created.headers["x-request-id"]
    assert audit.changes is not None
    assert audit.changes["name"] == [None, body["name"]]
    assert audit.changes["members"] == [None, 3]
    event_row = (
        await session.scalars(select(ChangeEvent).where(col(ChangeEvent.record_id) == group_id))
    ).one()
    assert (event_row.entity, event_row.action, event_row.version, event_row.region_code) == (
        "kube",
        "create",
        1,
        GUCI,
    )


async def test_list_filters(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    guci = await create_group(http, office, [], name="KUBE Melati Guci")
    other = await create_group(http, office, [], name="KUBE Mawar", village_code="33.28.02.2002")
    ids = {guci["id"], other["id"]}

    async def listed(**params: Any) -> list[str]:
        response = await http.get("/api/v1/kube", params=params, headers=office.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"] if item["id"] in ids]

    assert set(await listed(region="33.28.02")) == ids
    assert await listed(village_code="3328022002") == [other["id"]]
    assert await listed(name="melati") == [guci["id"]]
    assert set(await listed(status="forming")) == ids
    assert await listed(status="active") == []
    assert set(await listed(updated_since=guci["updated_at"])) == ids
    assert await listed(region="33.29") == []


async def test_list_pages_with_a_cursor(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    for name in ("KUBE Melati Guci", "KUBE Mawar"):
        await create_group(http, office, [], name=name)
    first = await http.get("/api/v1/kube", params={"limit": 1}, headers=office.headers)
    cursor = first.json()["next_cursor"]
    assert cursor
    second = await http.get(
        "/api/v1/kube", params={"limit": 1, "cursor": cursor}, headers=office.headers
    )
    assert second.json()["items"][0]["id"] != first.json()["items"][0]["id"]
    bad = await http.get("/api/v1/kube", params={"cursor": "nonsense"}, headers=office.headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"


async def test_patch_with_if_match(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    group = await create_group(http, office, await families(http, office, 2))
    url = f"/api/v1/kube/{group['id']}"

    changed = await http.patch(
        url,
        json={"name": "KUBE Sekar Wangi", "business_category": "kerajinan"},
        headers={**office.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"'
    stale = await http.patch(
        url, json={"name": "Lost"}, headers={**office.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_mismatch"
    assert (await http.patch(url, json={"name": "Lost"}, headers=office.headers)).status_code == 428

    # A forming group may move within its regency (its families all lie there), not beyond.
    moved = await http.patch(
        url, json={"village_code": "33.28.01.2001"}, headers={**office.headers, "If-Match": '"2"'}
    )
    assert moved.status_code == 200, moved.text
    away = await http.patch(
        url, json={"village_code": "33.29.01.2001"}, headers={**office.headers, "If-Match": '"3"'}
    )
    assert away.status_code == 403  # Brebes is outside this client's region too
    province = await clients(region="33", scopes=OFFICE)
    beyond = await http.patch(
        url, json={"village_code": "33.29.01.2001"}, headers={**province.headers, "If-Match": '"3"'}
    )
    assert beyond.status_code == 422
    assert beyond.json()["errors"][0] == {
        "field": "village_code",
        "code": "outside_group_regency",
        "message": "Every member family must lie in the regency of the group's village.",
    }

    read = (await http.get(url, headers=office.headers)).json()
    assert (read["name"], read["business_category"], read["village_code"], read["version"]) == (
        "KUBE Sekar Wangi",
        "kerajinan",
        "33.28.01.2001",
        3,
    )
    updates = (
        await session.scalars(
            select(AuditEntry)
            .where(col(AuditEntry.record_id) == group["id"], col(AuditEntry.action) == "update")
            # In the order written (without it, PostgreSQL may hand them over in any order).
            .order_by(col(AuditEntry.id))
        )
    ).all()
    assert [update.changes for update in updates] == [
        {
            "business_category": ["kuliner", "kerajinan"],
            "name": [group["name"], "KUBE Sekar Wangi"],
        },
        {"village_code": ["33.28.02.2001", "33.28.01.2001"]},
    ]


async def test_status_machine_and_activation_rule(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    family_ids = await families(http, office, 6)
    group = await create_group(http, office, family_ids[:4])
    group_id = group["id"]

    too_small = await move(http, office, group_id, "active")
    assert too_small.status_code == 409
    assert too_small.json()["code"] == "group_size"

    # Five members but the ketua is gone: no activation without exactly one ketua.
    added = await http.post(
        f"/api/v1/kube/{group_id}/members",
        json={"family_id": family_ids[4]},
        headers=office.headers,
    )
    assert added.status_code == 201, added.text
    assert (
        await http.delete(
            f"/api/v1/kube/{group_id}/members/{family_ids[0]}", headers=office.headers
        )
    ).status_code == 200
    await http.post(
        f"/api/v1/kube/{group_id}/members",
        json={"family_id": family_ids[5]},
        headers=office.headers,
    )
    no_ketua = await move(http, office, group_id, "active")
    assert no_ketua.status_code == 409
    assert no_ketua.json()["code"] == "ketua_required"
    promoted = await http.patch(
        f"/api/v1/kube/{group_id}/members/{family_ids[1]}",
        json={"role": "ketua"},
        headers=office.headers,
    )
    assert promoted.status_code == 200, promoted.text

    stale = await move(http, office, group_id, "active", note="x")
    assert stale.status_code == 200  # If-Match is optional on transitions
    assert stale.json()["status"] == "active"
    skipped = await move(http, office, group_id, "forming")
    assert skipped.status_code == 409
    assert skipped.json()["code"] == "invalid_transition"
    old_version = stale.json()["version"]
    with_stale_tag = await http.post(
        f"/api/v1/kube/{group_id}/transitions",
        json={"to": "inactive"},
        headers={**office.headers, "If-Match": f'"{old_version - 1}"'},
    )
    assert with_stale_tag.status_code == 412
    for step in ("inactive", "active", "dissolved"):
        response = await move(http, office, group_id, step)
        assert response.status_code == 200, response.text
    final = await move(http, office, group_id, "active")
    assert final.status_code == 409
    assert final.json()["code"] == "invalid_transition"
    read = (await http.get(f"/api/v1/kube/{group_id}", headers=office.headers)).json()
    assert read["status"] == "dissolved"
    gone = await http.post(
        f"/api/v1/kube/{group_id}/members",
        json={"family_id": family_ids[0]},
        headers=office.headers,
    )
    assert gone.json()["code"] == "group_dissolved"

    statuses = (
        await session.scalars(
            select(AuditEntry)
            .where(col(AuditEntry.record_id) == group_id, col(AuditEntry.action) == "transition")
            .order_by(col(AuditEntry.id))
        )
    ).all()
    assert [entry.changes["status"] for entry in statuses if entry.changes] == [
        ["forming", "active"],
        ["active", "inactive"],
        ["inactive", "active"],
        ["active", "dissolved"],
    ]


async def test_validation_is_problem_json_naming_fields(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    body = kube_group_body(
        village_code="33.28.02.9999",
        business_category="tambang",
        program_code="NOSUCH",
        members=[{"family_id": "not-a-uuid", "role": "raja"}],
    )
    schema = await http.post("/api/v1/kube", json=body, headers=office.headers)
    assert schema.status_code == 422
    assert schema.headers["content-type"] == "application/problem+json"
    assert {(e["field"], e["code"]) for e in schema.json()["errors"]} == {
        ("business_category", "enum"),
        ("members.0.family_id", "uuid_parsing"),
        ("members.0.role", "enum"),
    }
    rules = await http.post(
        "/api/v1/kube",
        json=kube_group_body(village_code="33.28.02.9999", program_code="NOSUCH"),
        headers=office.headers,
    )
    assert {(e["field"], e["code"]) for e in rules.json()["errors"]} == {
        ("village_code", "unknown_region"),
        ("program_code", "unknown_program"),
    }
    family_ids = await families(http, office, 2)
    doubled = await http.post(
        "/api/v1/kube",
        json=kube_group_body(
            members=[
                {"family_id": family_ids[0], "role": "ketua"},
                {"family_id": family_ids[1], "role": "ketua"},
                {"family_id": family_ids[1], "role": "anggota"},
            ]
        ),
        headers=office.headers,
    )
    assert {(e["field"], e["code"]) for e in doubled.json()["errors"]} == {
        ("members.1.role", "duplicate_role"),
        ("members.2.family_id", "duplicate_family"),
    }
    group = await active_group(http, office)
    amounts = await http.post(
        "/api/v1/kube-grants",
        json=grant_body(group["id"], amount=0, surprise=True),
        headers=office.headers,
    )
    assert {(e["field"], e["code"]) for e in amounts.json()["errors"]} == {
        ("amount", "greater_than"),
        ("surprise", "extra_forbidden"),
    }
    fraction = await http.post(
        "/api/v1/kube-grants", json=grant_body(group["id"], amount=1.5), headers=office.headers
    )
    assert fraction.json()["errors"][0]["field"] == "amount"
    indonesian = await http.post(
        f"/api/v1/kube/{group['id']}/transitions",
        json={"to": "forming"},
        headers={**office.headers, "Accept-Language": "id"},
    )
    assert indonesian.json()["detail"] == "Status active tidak dapat diubah menjadi forming."
