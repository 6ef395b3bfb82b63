from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from service.kpm import families
from tests.factories import ClientFactory, family_body, member_body, nik_for

READ_ONLY = ["kpm:read"]
WRITER = ["kpm:read", "kpm:write"]


async def test_create_and_read_back_masked_and_unmasked(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region="33.28", scopes=WRITER)
    body = family_body()
    created = await http.post("/api/v1/kpm", json=body, headers=writer.headers)
    assert created.status_code == 201, created.text
    family_id = created.json()["id"]

    masked = (await http.get(f"/api/v1/kpm/{family_id}", headers=writer.headers)).json()
    assert masked["no_kk"] == body["no_kk"][:6] + "*" * 10
    assert [m["nik"] for m in masked["members"]] == [
        m["nik"][:6] + "*" * 10 for m in body["members"]
    ]
    assert [m["name"] for m in masked["members"]] == ["Slamet Riyadi", "Siti Aminah", "Budi"]
    assert [(e["program_code"], e["status"]) for e in masked["enrollments"]] == [("PKH", "active")]
    assert masked["village_code"] == "33.28.02.2001"
    assert all(m["nik_mismatch"] is False for m in masked["members"])

    reader = await clients(region="33.28.02.2001", scopes=["kpm:read", "pii:read"])
    unmasked = (await http.get(f"/api/v1/kpm/{family_id}", headers=reader.headers)).json()
    assert unmasked["no_kk"] == body["no_kk"]
    assert [m["nik"] for m in unmasked["members"]] == [m["nik"] for m in body["members"]]

    # the unmasked read is audited; the write has its audit entry and change event
    actions = list(
        await session.scalars(
            select(col(AuditEntry.action)).where(col(AuditEntry.record_id) == family_id)
        )
    )
    assert sorted(actions) == ["create", "read_pii"]
    event = (
        await session.scalars(select(ChangeEvent).where(col(ChangeEvent.record_id) == family_id))
    ).one()
    assert (event.entity, event.action, event.region_code) == ("kpm", "create", "33.28.02.2001")
    audit = (
        await session.scalars(
            select(AuditEntry).where(
                col(AuditEntry.record_id) == family_id, col(AuditEntry.action) == "create"
            )
        )
    ).one()
    assert body["no_kk"] not in str(audit.changes)  # personal numbers never in the audit


async def test_validation_names_each_field(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    writer = await clients(scopes=WRITER)
    body = family_body(no_kk="33280216052300", desil=11, programs=["PKH", "BANSOS_X"])
    body["members"][1]["nik"] = "3328027207880001"  # day 72: not a date, even for a woman
    body["members"][2]["relationship"] = "KEPALA_KELUARGA"
    body["members"][2]["birth_date"] = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    response = await http.post("/api/v1/kpm", json=body, headers=writer.headers)
    assert response.status_code == 422
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("no_kk", "invalid_no_kk"),
        ("desil", "invalid_value"),
        ("programs", "unknown_program"),
        ("members.1.nik", "invalid_nik"),
        ("members.2.birth_date", "invalid_value"),
        ("relationship", "multiple_heads"),
    }
    unknown_village = await http.post(
        "/api/v1/kpm", json=family_body(village="33.28.02.2999"), headers=writer.headers
    )
    assert [(e["field"], e["code"]) for e in unknown_village.json()["errors"]] == [
        ("village_code", "unknown_region")
    ]


async def test_nik_that_disagrees_with_the_person_is_flagged(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    writer = await clients(scopes=WRITER)
    body = family_body()
    # a woman whose NIK was issued without the +40 (a common registry error)
    body["members"][1]["nik"] = nik_for("33.28.02", dt.date(1988, 7, 2), female=False)
    created = await http.post("/api/v1/kpm", json=body, headers=writer.headers)
    assert created.status_code == 201
    assert [m["nik_mismatch"] for m in created.json()["members"]] == [False, True, False]


async def test_nik_clash_names_only_the_regency_outside_the_region(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    tegal = await clients(region="33.28", scopes=WRITER)
    first = family_body()
    tegal_family = await http.post("/api/v1/kpm", json=first, headers=tegal.headers)
    assert tegal_family.status_code == 201

    brebes = await clients(region="33.29", scopes=WRITER)
    clash = family_body(village="33.29.01.2001")
    clash["members"][1] = {**first["members"][0], "relationship": "SUAMI"}
    response = await http.post("/api/v1/kpm", json=clash, headers=brebes.headers)
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["field"] == "members.1.nik"
    assert error["message"] == "Already in a live family of regency 33.28."
    assert tegal_family.json()["id"] not in response.text

    national = await clients(scopes=WRITER)
    seen = await http.post("/api/v1/kpm", json=clash, headers=national.headers)
    assert tegal_family.json()["id"] in seen.json()["errors"][0]["message"]


async def test_patch_members_and_etag(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    writer = await clients(region="33.28", scopes=WRITER)
    family = (await http.post("/api/v1/kpm", json=family_body(), headers=writer.headers)).json()
    url = f"/api/v1/kpm/{family['id']}"

    changed = await http.patch(
        url,
        json={"desil": 1, "address": "RT 03 RW 05"},
        headers={**writer.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"'
    stale = await http.patch(url, json={"desil": 3}, headers={**writer.headers, "If-Match": '"1"'})
    assert stale.status_code == 412

    added = await http.post(
        f"{url}/members",
        json=member_body("ANAK", birth=dt.date(2015, 9, 9), female=True, name="Rina"),
        headers={**writer.headers, "If-Match": '"2"'},
    )
    assert added.status_code == 201, added.text
    assert [m["name"] for m in added.json()["members"]][-1] == "Rina"
    budi = next(m for m in added.json()["members"] if m["name"] == "Budi")

    second_head = await http.patch(
        f"{url}/members/{budi['id']}",
        json={"relationship": "KEPALA_KELUARGA"},
        headers={**writer.headers, "If-Match": '"3"'},
    )
    assert second_head.status_code == 422
    assert second_head.json()["errors"][0]["code"] == "multiple_heads"

    removed = await http.delete(
        f"{url}/members/{budi['id']}", headers={**writer.headers, "If-Match": '"3"'}
    )
    assert removed.status_code == 200
    final = (await http.get(url, headers=writer.headers)).json()
    assert [m["name"] for m in final["members"]] == ["Slamet Riyadi", "Siti Aminah", "Rina"]
    assert (final["desil"], final["address"], final["version"]) == (1, "RT 03 RW 05", 4)


async def test_archive_frees_the_niks_and_leaves_lists(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    writer = await clients(region="33.28", scopes=WRITER)
    body = family_body()
    family = (await http.post("/api/v1/kpm", json=body, headers=writer.headers)).json()
    url = f"/api/v1/kpm/{family['id']}"
    archived = await http.post(
        f"{url}/archive",
        json={"reason": "Pindah ke Kabupaten Brebes"},
        headers={**writer.headers, "If-Match": '"1"'},
    )
    assert archived.status_code == 200
    assert archived.json()["archive_reason"] == "Pindah ke Kabupaten Brebes"

    listed = await http.get("/api/v1/kpm", params={"no_kk": body["no_kk"]}, headers=writer.headers)
    assert listed.json()["items"] == []
    assert (await http.get(url, headers=writer.headers)).json()["archived_at"] is not None

    again = await http.post("/api/v1/kpm", json=body, headers=writer.headers)
    assert again.status_code == 201, again.text  # same No KK and NIKs, now free


async def test_list_filters(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    writer = await clients(region="33.28", scopes=WRITER)
    guci = family_body(members=[member_body(name="Warsini Unik")], programs=["BPNT"], desil=4)
    other = family_body(village="33.28.01.2013")
    for body in (guci, other):
        assert (
            await http.post("/api/v1/kpm", json=body, headers=writer.headers)
        ).status_code == 201

    async def codes(**params: str) -> list[str]:
        response = await http.get("/api/v1/kpm", params=params, headers=writer.headers)
        assert response.status_code == 200, response.text
        return [item["village_code"] for item in response.json()["items"]]

    assert await codes(name="warsini unik") == ["33.28.02.2001"]
    assert await codes(village_code="3328012013") == ["33.28.01.2013"]
    assert await codes(program="BPNT", desil="4") == ["33.28.02.2001"]
    assert await codes(nik=guci["members"][0]["nik"]) == ["33.28.02.2001"]
    assert "33.28.01.2013" not in await codes(region="33.28.02")


async def test_parallel_creations_with_one_nik_give_one_family(
    live_http: httpx.AsyncClient, live_clients: ClientFactory
) -> None:
    writer = await live_clients(region="33.28", scopes=WRITER)
    shared = member_body()
    bodies = [family_body(members=[shared]) for _ in range(6)]
    responses = await asyncio.gather(
        *(live_http.post("/api/v1/kpm", json=body, headers=writer.headers) for body in bodies)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    found = await live_http.get(
        "/api/v1/kpm", params={"nik": shared["nik"]}, headers=writer.headers
    )
    assert len(found.json()["items"]) == 1


async def test_the_unique_index_settles_a_race_the_check_missed(
    http: httpx.AsyncClient, clients: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests can both pass the NIK/No KK check before either commits; the partial unique
    indexes then decide, and the loser still gets a clean 409 (not a 500)."""
    writer = await clients(scopes=WRITER)
    body = family_body()
    assert (await http.post("/api/v1/kpm", json=body, headers=writer.headers)).status_code == 201
    check = families._ensure_numbers_free
    calls = 0

    async def check_misses_once(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            await check(*args, **kwargs)

    monkeypatch.setattr(families, "_ensure_numbers_free", check_misses_once)
    again = await http.post(
        "/api/v1/kpm", json=family_body(no_kk=body["no_kk"]), headers=writer.headers
    )
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "duplicate_no_kk"


async def test_unmasked_lists_audit_each_family_read(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region="33.28.02.2003", scopes=WRITER)
    made = [
        (
            await http.post(
                "/api/v1/kpm", json=family_body("33.28.02.2003"), headers=writer.headers
            )
        ).json()["id"]
        for _ in range(2)
    ]

    async def reads_of(client_id: str) -> list[tuple[str, str | None]]:
        rows = await session.execute(
            select(col(AuditEntry.record_id), col(AuditEntry.region_code)).where(
                col(AuditEntry.action) == "read_pii",
                col(AuditEntry.client_id) == client_id,
            )
        )
        return sorted((record, region) for record, region in rows.all())

    masked = await clients(region="33.28.02.2003", scopes=["kpm:read"])
    await http.get("/api/v1/kpm", headers=masked.headers)
    assert await reads_of(masked.client_id) == []

    unmasked = await clients(region="33.28.02.2003", scopes=["kpm:read", "pii:read"])
    listed = await http.get("/api/v1/kpm", headers=unmasked.headers)
    assert sorted(item["id"] for item in listed.json()["items"]) == sorted(made)
    assert await reads_of(unmasked.client_id) == sorted(
        (family_id, "33.28.02.2003") for family_id in made
    )
