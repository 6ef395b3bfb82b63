"""KUBE groups and grants: read back after writes, status machines, the activation rule, one
active KUBE per family (also in parallel), audit and change events, validation."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.auth import secrets
from service.changes.tables import ChangeEvent
from tests.factories import (
    ClientFactory,
    IssuedClient,
    family_body,
    grant_body,
    kube_group_body,
)

GUCI = "33.28.02.2001"  # a village of Bumijawa, Kabupaten Tegal
OFFICE = ["kpm:read", "kpm:write", "kube:read", "kube:write", "facilitators:read"]


@pytest.fixture(autouse=True)
def cheap_secret_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests make a few clients each and never present their secrets (tokens are issued
    directly), so a cheap Argon2id saves ~0.3 s a client without changing what is stored."""
    monkeypatch.setattr(
        secrets, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


async def families(
    http: httpx.AsyncClient, client: IssuedClient, count: int, village: str = GUCI
) -> list[str]:
    ids = []
    for _ in range(count):
        response = await http.post("/api/v1/kpm", json=family_body(village), headers=client.headers)
        assert response.status_code == 201, response.text
        ids.append(str(response.json()["id"]))
    return ids


async def create_group(
    http: httpx.AsyncClient, client: IssuedClient, family_ids: list[str], **overrides: Any
) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/kube",
        json=kube_group_body(family_ids=family_ids, **overrides),
        headers=client.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def move(
    http: httpx.AsyncClient, client: IssuedClient, group_id: str, to: str, **extra: Any
) -> httpx.Response:
    return await http.post(
        f"/api/v1/kube/{group_id}/transitions", json={"to": to, **extra}, headers=client.headers
    )


async def active_group(
    http: httpx.AsyncClient, client: IssuedClient, village: str = GUCI
) -> dict[str, Any]:
    group = await create_group(
        http, client, await families(http, client, 5, village), village_code=village
    )
    response = await move(http, client, group["id"], "active")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def grant_move(
    http: httpx.AsyncClient, client: IssuedClient, grant_id: str, to: str, note: str | None = None
) -> httpx.Response:
    return await http.post(
        f"/api/v1/kube-grants/{grant_id}/transitions",
        json={"to": to, "note": note},
        headers=client.headers,
    )


# --- groups ----------------------------------------------------------------------------------


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


async def test_list_filters_and_cursor(http: httpx.AsyncClient, clients: ClientFactory) -> None:
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
            select(AuditEntry).where(
                col(AuditEntry.record_id) == group["id"], col(AuditEntry.action) == "update"
            )
        )
    ).all()
    assert updates[0].changes == {
        "business_category": ["kuliner", "kerajinan"],
        "name": [group["name"], "KUBE Sekar Wangi"],
    }


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


async def test_group_size_limits_and_member_rules(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    family_ids = await families(http, office, 11)
    oversized = await http.post(
        "/api/v1/kube", json=kube_group_body(family_ids=family_ids), headers=office.headers
    )
    assert oversized.status_code == 422
    assert oversized.json()["errors"][0]["code"] == "group_size"

    group = await create_group(http, office, family_ids[:10])
    eleventh = await http.post(
        f"/api/v1/kube/{group['id']}/members",
        json={"family_id": family_ids[10]},
        headers=office.headers,
    )
    assert eleventh.status_code == 409
    assert eleventh.json()["code"] == "group_full"
    twice = await http.post(
        f"/api/v1/kube/{group['id']}/members",
        json={"family_id": family_ids[3]},
        headers=office.headers,
    )
    assert twice.json()["code"] == "already_member"

    # Officer seats are single: a new bendahara, then a new ketua, hand over the seats.
    base = f"/api/v1/kube/{group['id']}/members"
    await http.patch(f"{base}/{family_ids[1]}", json={"role": "bendahara"}, headers=office.headers)
    handed = await http.patch(
        f"{base}/{family_ids[2]}", json={"role": "bendahara"}, headers=office.headers
    )
    roles = {m["family_id"]: m["role"] for m in handed.json()["members"]}
    assert (roles[family_ids[1]], roles[family_ids[2]]) == ("anggota", "bendahara")
    assert (await move(http, office, group["id"], "active")).status_code == 200

    ketua_out = await http.delete(f"{base}/{family_ids[0]}", headers=office.headers)
    assert ketua_out.status_code == 409
    assert ketua_out.json()["code"] == "ketua_required"
    demoted = await http.patch(
        f"{base}/{family_ids[0]}", json={"role": "anggota"}, headers=office.headers
    )
    assert demoted.json()["code"] == "ketua_required"
    new_ketua = await http.patch(
        f"{base}/{family_ids[5]}", json={"role": "ketua"}, headers=office.headers
    )
    roles = {m["family_id"]: m["role"] for m in new_ketua.json()["members"]}
    assert (roles[family_ids[0]], roles[family_ids[5]]) == ("anggota", "ketua")
    for family_id in [*family_ids[6:10], family_ids[3]]:  # ten down to five, the minimum
        assert (await http.delete(f"{base}/{family_id}", headers=office.headers)).status_code == 200
    below = await http.delete(f"{base}/{family_ids[1]}", headers=office.headers)
    assert below.status_code == 409
    assert below.json()["code"] == "group_size"
    read = (await http.get(f"/api/v1/kube/{group['id']}", headers=office.headers)).json()
    assert len(read["members"]) == 5


async def test_member_families_must_be_visible_live_and_in_the_regency(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    regency = await clients(region="33.28", scopes=OFFICE)
    village = await clients(region=GUCI, scopes=OFFICE)
    (neighbour,) = await families(http, regency, 1, "33.28.02.2002")  # same district
    (bumijawa,) = await families(http, regency, 1, "33.28.01.2001")  # other district, same regency
    province = await clients(region="33", scopes=OFFICE)
    (brebes,) = await families(http, province, 1, "33.29.01.2001")
    (archived,) = await families(http, regency, 1)
    await http.post(
        f"/api/v1/kpm/{archived}/archive",
        json={"reason": "Pindah ke luar kabupaten"},
        headers={**regency.headers, "If-Match": '"1"'},
    )
    group = await create_group(http, village, [])
    url = f"/api/v1/kube/{group['id']}/members"

    hidden = await http.post(url, json={"family_id": neighbour}, headers=village.headers)
    assert hidden.status_code == 422
    assert hidden.json()["errors"][0]["code"] == "unknown_family"
    assert hidden.json()["errors"][0]["field"] == "family_id"
    # The regency office sees both; the family of another district of Tegal may join.
    assert (
        await http.post(url, json={"family_id": bumijawa}, headers=regency.headers)
    ).status_code == 201
    outside = await http.post(url, json={"family_id": brebes}, headers=province.headers)
    assert outside.status_code == 422
    assert outside.json()["errors"][0]["code"] == "outside_group_regency"
    gone = await http.post(url, json={"family_id": archived}, headers=regency.headers)
    assert gone.json()["errors"][0]["code"] == "archived_family"


async def test_one_active_kube_per_family(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    first = await active_group(http, office)
    shared = first["members"][2]["family_id"]
    second = await active_group(http, office)
    refused = await http.post(
        f"/api/v1/kube/{second['id']}/members",
        json={"family_id": shared},
        headers=office.headers,
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "family_in_active_kube"
    assert refused.json()["errors"][0]["field"] == "family_id"

    # A forming group may list the family; it cannot activate while the first group is active.
    others = await families(http, office, 4)
    forming = await create_group(http, office, [*others, shared])
    blocked = await move(http, office, forming["id"], "active")
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "family_in_active_kube"
    assert (await move(http, office, first["id"], "inactive")).status_code == 200
    assert (await move(http, office, forming["id"], "active")).status_code == 200
    # and now the first group cannot come back while the family is in the other one
    back = await move(http, office, first["id"], "active")
    assert back.json()["code"] == "family_in_active_kube"


async def test_parallel_activations_sharing_a_family_let_one_win(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    office = await live_clients(region="35.75", scopes=OFFICE)  # Kota Pasuruan
    village = "35.75.01.1001"
    (shared,) = await families(live_http, office, 1, village)
    groups = []
    for _ in range(3):
        others = await families(live_http, office, 4, village)
        groups.append(
            await create_group(live_http, office, [*others, shared], village_code=village)
        )

    responses = await asyncio.gather(
        *(move(live_http, office, group["id"], "active") for group in groups)
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "family_in_active_kube"
    }
    statuses = [
        (await live_http.get(f"/api/v1/kube/{g['id']}", headers=office.headers)).json()["status"]
        for g in groups
    ]
    assert sorted(statuses) == ["active", "forming", "forming"]


async def test_parallel_adds_of_one_family_to_active_groups_let_one_win(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    office = await live_clients(region="35.75", scopes=OFFICE)
    village = "35.75.01.1002"
    groups = [await active_group(live_http, office, village) for _ in range(4)]
    (family_id,) = await families(live_http, office, 1, village)
    responses = await asyncio.gather(
        *(
            live_http.post(
                f"/api/v1/kube/{group['id']}/members",
                json={"family_id": family_id},
                headers=office.headers,
            )
            for group in groups
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    holding = [
        g
        for g in groups
        if family_id
        in {
            m["family_id"]
            for m in (
                await live_http.get(f"/api/v1/kube/{g['id']}", headers=office.headers)
            ).json()["members"]
        }
    ]
    assert len(holding) == 1


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


# --- grants ----------------------------------------------------------------------------------


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


# --- GraphQL ---------------------------------------------------------------------------------


async def gql(
    http: httpx.AsyncClient, client: IssuedClient, query: str, **variables: Any
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=client.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def error_code(result: dict[str, Any]) -> str | None:
    errors = result.get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


async def test_graphql_groups_and_grants_through_the_same_rules(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    office = await clients(region="33.28", scopes=OFFICE)
    province = await clients(region="33", scopes=OFFICE)
    family_ids = await families(http, office, 6)
    created = await gql(
        http,
        office,
        """mutation($i: KubeGroupCreateInput!) {
            createKubeGroup(input: $i) { id status members { familyId role } }
        }""",
        i={
            "name": "KUBE Tani Makmur",
            "villageCode": "3328022001",
            "businessCategory": "pertanian",
            "members": [
                {"familyId": family_ids[0], "role": "ketua"},
                *({"familyId": f} for f in family_ids[1:4]),
            ],
        },
    )
    group = created["data"]["createKubeGroup"]
    assert group["status"] == "forming"
    assert [m["role"] for m in group["members"]] == ["ketua", "anggota", "anggota", "anggota"]

    activate = """mutation($g: UUID!) { changeKubeGroupStatus(groupId: $g, to: "active") {
        status } }"""
    assert error_code(await gql(http, office, activate, g=group["id"])) == "group_size"
    added = await gql(
        http,
        office,
        """mutation($g: UUID!, $f: UUID!) {
            addKubeMember(groupId: $g, input: {familyId: $f, role: "bendahara"}) {
                members { familyId role } version } }""",
        g=group["id"],
        f=family_ids[4],
    )
    assert added["data"]["addKubeMember"]["members"][-1] == {
        "familyId": family_ids[4],
        "role": "bendahara",
    }
    active = await gql(http, office, activate, g=group["id"])
    assert active["data"]["changeKubeGroupStatus"]["status"] == "active"

    bad = await gql(
        http,
        office,
        "mutation($i: KubeGrantCreateInput!) { createKubeGrant(input: $i) { id } }",
        i={"groupId": group["id"], "amount": 0},
    )
    assert error_code(bad) == "validation_failed"
    assert bad["errors"][0]["extensions"]["errors"][0]["field"] == "amount"
    grant = (
        await gql(
            http,
            office,
            "mutation($i: KubeGrantCreateInput!) { createKubeGrant(input: $i) { id amount } }",
            i={"groupId": group["id"], "amount": 20_000_000},
        )
    )["data"]["createKubeGrant"]
    transition = """mutation($g: UUID!, $to: String!) {
        transitionKubeGrant(grantId: $g, to: $to, note: "ok") { status } }"""
    refused = await gql(http, office, transition, g=grant["id"], to="recommended")
    assert error_code(refused) == "province_required"
    assert error_code(await gql(http, province, transition, g=grant["id"], to="approved")) == (
        "invalid_transition"
    )
    for client, step in ((province, "recommended"), (office, "approved"), (office, "disbursed")):
        assert error_code(await gql(http, client, transition, g=grant["id"], to=step)) is None
    await http.post(
        f"/api/v1/kube-grants/{grant['id']}/reports",
        json={"report_date": "2026-09-30", "revenue": 3_000_000_000, "active_members": 5},
        headers=office.headers,
    )
    read = await gql(
        http,
        office,
        """query($id: UUID!) { kubeGrant(id: $id) {
            status amount group { name status members { role } }
            transitions { fromStatus toStatus byName note }
            reports { revenue activeMembers } } }""",
        id=grant["id"],
    )
    body = read["data"]["kubeGrant"]
    assert (body["status"], body["amount"], body["group"]["name"]) == (
        "reporting",
        20_000_000,
        "KUBE Tani Makmur",
    )
    assert [t["toStatus"] for t in body["transitions"]] == [
        "proposed",
        "recommended",
        "approved",
        "disbursed",
        "reporting",
    ]
    assert body["reports"] == [{"revenue": 3_000_000_000, "activeMembers": 5}]
    listed = await gql(
        http,
        office,
        """query($f: KubeGroupFilterInput) { kubeGroups(filter: $f, limit: 10) {
            items { id members { familyId } } nextCursor } }""",
        f={"status": "active", "name": "tani"},
    )
    assert [g["id"] for g in listed["data"]["kubeGroups"]["items"]] == [group["id"]]
    assert len(listed["data"]["kubeGroups"]["items"][0]["members"]) == 5


@pytest.mark.parametrize(
    ("literal", "variable"),
    [("1.5", 1.5), ('"20000000"', "20000000"), ("true", True)],
)
async def test_graphql_money_is_whole_rupiah(
    http: httpx.AsyncClient, clients: ClientFactory, literal: str, variable: object
) -> None:
    """A fractional or quoted amount is the client's mistake (400), in a literal or a variable;
    a variable of the wrong type anywhere is one too, never an internal error."""
    office = await clients(region="33.28", scopes=OFFICE)
    group = await active_group(http, office)
    inline = await gql(
        http,
        office,
        "mutation($g: UUID!) { createKubeGrant(input: {groupId: $g, amount: "
        + literal
        + "}) { id } }",
        g=group["id"],
    )
    assert inline["errors"][0]["extensions"]["code"] == "graphql_error"
    assert inline["errors"][0]["extensions"]["status"] == 400
    passed = await gql(
        http,
        office,
        "mutation($g: UUID!, $a: Rupiah!) { createKubeGrant(input: {groupId: $g, amount: $a}) "
        "{ id } }",
        g=group["id"],
        a=variable,
    )
    assert passed["errors"][0]["extensions"]["code"] == "graphql_error"
    limit = await gql(
        http, office, "query($l: Int!) { kubeGroups(limit: $l) { nextCursor } }", l="x"
    )
    assert limit["errors"][0]["extensions"]["status"] == 400
    listed = await http.get("/api/v1/kube-grants", headers=office.headers)
    assert listed.json()["items"] == []


async def test_graphql_nested_lists_cost_one_query_per_kind(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    connection: AsyncConnection,
) -> None:
    """Members of a page of groups come through the DataLoader: as many queries for ten groups
    as for one."""
    office = await clients(region="33.28", scopes=OFFICE)
    family_ids = await families(http, office, 10)
    query = """query($f: KubeGroupFilterInput) { kubeGroups(filter: $f, limit: 50) {
        items { id members { familyId role } } } }"""

    async def statements_for(name: str) -> int:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(connection.sync_connection, "before_cursor_execute", count)
        try:
            result = await gql(http, office, query, f={"name": name})
        finally:
            event.remove(connection.sync_connection, "before_cursor_execute", count)
        assert "errors" not in result
        return len([s for s in seen if "kube_member" in s])

    await create_group(http, office, family_ids[:1], name="KUBE Satu Saja")
    for index in range(9):
        await create_group(
            http, office, family_ids[index + 1 : index + 2], name=f"KUBE Banyak {index}"
        )
    assert await statements_for("satu saja") == 1
    assert await statements_for("banyak") == 1


# --- regions: every endpoint, both doors ------------------------------------------------------

# caller region -> does it see (and may change) a group in Guci, 33.28.02.2001?
CALLERS: dict[str, bool] = {
    "national": True,
    "33": True,  # Jawa Tengah, the province above
    "35": False,  # another province
    "33.28": True,  # Kabupaten Tegal
    "33.29": False,  # Kabupaten Brebes, the neighbouring regency
    GUCI: True,  # the village itself
    "33.28.02.2002": False,  # the next village
}


@pytest.mark.parametrize(("caller", "inside"), CALLERS.items())
async def test_region_matrix(
    http: httpx.AsyncClient, clients: ClientFactory, caller: str, inside: bool
) -> None:
    owner = await clients(region=GUCI, scopes=OFFICE)
    group = await active_group(http, owner)
    (spare,) = await families(http, owner, 1)
    grant = (
        await http.post("/api/v1/kube-grants", json=grant_body(group["id"]), headers=owner.headers)
    ).json()
    client = await clients(region=None if caller == "national" else caller, scopes=OFFICE)
    seen, hidden = (200, 404)
    expect = seen if inside else hidden

    # reads
    assert (
        await http.get(f"/api/v1/kube/{group['id']}", headers=client.headers)
    ).status_code == expect
    groups = (await http.get("/api/v1/kube?limit=500", headers=client.headers)).json()["items"]
    assert (group["id"] in {g["id"] for g in groups}) is inside
    grant_url = f"/api/v1/kube-grants/{grant['id']}"
    assert (await http.get(grant_url, headers=client.headers)).status_code == expect
    grants = (await http.get("/api/v1/kube-grants?limit=500", headers=client.headers)).json()
    assert (grant["id"] in {g["id"] for g in grants["items"]}) is inside
    for sub in ("transitions", "reports"):
        assert (await http.get(f"{grant_url}/{sub}", headers=client.headers)).status_code == expect
    gql_group = await gql(
        http,
        client,
        "query($id: UUID!) { kubeGroup(id: $id) { members { familyId } } }",
        id=group["id"],
    )
    assert error_code(gql_group) == (None if inside else "not_found")
    gql_grant = await gql(
        http, client, "query($id: UUID!) { kubeGrant(id: $id) { status } }", id=grant["id"]
    )
    assert error_code(gql_grant) == (None if inside else "not_found")
    gql_list = await gql(http, client, "{ kubeGroups(limit: 500) { items { id } } }")
    assert (group["id"] in {g["id"] for g in gql_list["data"]["kubeGroups"]["items"]}) is inside
    gql_grants = await gql(http, client, "{ kubeGrants(limit: 500) { items { id } } }")
    assert (grant["id"] in {g["id"] for g in gql_grants["data"]["kubeGrants"]["items"]}) is inside

    # writes to records outside answer as if they did not exist
    patched = await http.patch(
        f"/api/v1/kube/{group['id']}",
        json={"name": "KUBE Berganti Nama"},
        headers={**client.headers, "If-Match": f'"{group["version"]}"'},
    )
    assert patched.status_code == expect
    member = await http.post(
        f"/api/v1/kube/{group['id']}/members", json={"family_id": spare}, headers=client.headers
    )
    assert member.status_code == (201 if inside else 404)
    role = await http.patch(
        f"/api/v1/kube/{group['id']}/members/{spare}",
        json={"role": "sekretaris"},
        headers=client.headers,
    )
    assert role.status_code == (200 if inside else 404)
    removed = await http.delete(
        f"/api/v1/kube/{group['id']}/members/{spare}", headers=client.headers
    )
    assert removed.status_code == expect
    report = await http.post(
        f"{grant_url}/reports",
        json={"report_date": "2026-09-30", "revenue": 1, "active_members": 5},
        headers=client.headers,
    )
    assert report.status_code == (409 if inside else 404)  # inside: not disbursed yet
    grant_patch = await http.patch(
        grant_url, json={"purpose": "Modal"}, headers={**client.headers, "If-Match": '"1"'}
    )
    assert grant_patch.status_code == expect
    cancelled = await grant_move(http, client, grant["id"], "cancelled")
    assert cancelled.status_code == expect
    gql_cancel = await gql(
        http,
        client,
        'mutation($g: UUID!) { transitionKubeGrant(grantId: $g, to: "cancelled") { status } }',
        g=grant["id"],
    )
    assert error_code(gql_cancel) == ("invalid_transition" if inside else "not_found")
    gql_member = await gql(
        http,
        client,
        "mutation($g: UUID!, $f: UUID!) { "
        "addKubeMember(groupId: $g, input: {familyId: $f}) { id } }",
        g=group["id"],
        f=spare,
    )
    assert error_code(gql_member) == (None if inside else "not_found")
    # a grant for a group the caller cannot see names the field, like any unknown id
    new_grant = await http.post(
        "/api/v1/kube-grants", json=grant_body(group["id"]), headers=client.headers
    )
    assert new_grant.status_code == (201 if inside else 422)
    gql_grant_create = await gql(
        http,
        client,
        "mutation($i: KubeGrantCreateInput!) { createKubeGrant(input: $i) { id } }",
        i={"groupId": group["id"], "amount": 20_000_000},
    )
    # inside: the grant just created is still under way; outside: the group is unknown here
    assert error_code(gql_grant_create) == ("open_grant_exists" if inside else "validation_failed")
    gql_status = await gql(
        http,
        client,
        'mutation($g: UUID!) { changeKubeGroupStatus(groupId: $g, to: "inactive") { status } }',
        g=group["id"],
    )
    assert error_code(gql_status) == (None if inside else "not_found")

    # creating in a region outside is forbidden
    created = await http.post("/api/v1/kube", json=kube_group_body(), headers=client.headers)
    assert created.status_code == (201 if inside else 403)
    if not inside:
        assert created.json()["code"] == "outside_region"
    gql_create = await gql(
        http,
        client,
        "mutation($i: KubeGroupCreateInput!) { createKubeGroup(input: $i) { id } }",
        i={"name": "KUBE Baru", "villageCode": GUCI, "businessCategory": "jasa"},
    )
    assert error_code(gql_create) == (None if inside else "outside_region")


async def test_scopes_are_required(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    owner = await clients(region="33.28", scopes=OFFICE)
    group = await create_group(http, owner, [])
    reader = await clients(region="33.28", scopes=["kube:read"])
    assert (
        await http.get(f"/api/v1/kube/{group['id']}", headers=reader.headers)
    ).status_code == 200
    write = await http.post("/api/v1/kube", json=kube_group_body(), headers=reader.headers)
    assert write.status_code == 403
    assert write.json()["code"] == "insufficient_scope"
    stranger = await clients(region="33.28", scopes=["kpm:read"])
    read = await http.get(f"/api/v1/kube/{group['id']}", headers=stranger.headers)
    assert read.json()["code"] == "insufficient_scope"
    grants = await http.get("/api/v1/kube-grants", headers=stranger.headers)
    assert grants.status_code == 403


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
