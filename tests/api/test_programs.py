from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from tests.factories import ClientFactory, program_body


async def test_seeded_programs(http: httpx.AsyncClient, clients: ClientFactory) -> None:
    client = await clients(region="33.28.02.2001")
    response = await http.get("/api/v1/programs", headers=client.headers)
    programs = {item["code"]: item for item in response.json()["items"]}
    assert set(programs) == {"BPNT", "KUBE", "PK3E", "PKH"}
    assert programs["KUBE"]["group_size_min"] == 5
    assert programs["KUBE"]["group_size_max"] == 10
    assert programs["PKH"]["benefit_kind"] == "cash"


async def test_create_then_read_back_with_audit_and_change_event(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await clients(region="33.28")
    body = program_body(region_code="3328")
    created = await http.post("/api/v1/programs", json=body, headers=client.headers)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    assert created.headers["location"] == f"/api/v1/programs/{body['code']}"

    read = await http.get(f"/api/v1/programs/{body['code']}", headers=client.headers)
    assert read.status_code == 200
    program = read.json()
    assert program["region_code"] == "33.28"  # stored and returned dotted
    assert program["name"] == body["name"]
    assert program["version"] == 1
    assert read.headers["etag"] == '"1"'

    audit = (
        await session.scalars(select(AuditEntry).where(col(AuditEntry.record_id) == program["id"]))
    ).one()
    assert audit.action == "create"
    assert audit.entity == "program"
    assert str(audit.client_id) == client.client_id
    assert audit.region_code == "33.28"
    assert audit.request_id == created.headers["x-request-id"]
    assert audit.changes is not None
    assert audit.changes["code"] == [None, body["code"]]
    event = (
        await session.scalars(
            select(ChangeEvent).where(col(ChangeEvent.record_id) == program["id"])
        )
    ).one()
    assert (event.entity, event.action, event.version, event.region_code) == (
        "program",
        "create",
        1,
        "33.28",
    )
    assert event.txid is not None
    assert event.txid > 0


async def test_patch_with_if_match(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await clients(region="33.28")
    body = program_body()
    await http.post("/api/v1/programs", json=body, headers=client.headers)
    url = f"/api/v1/programs/{body['code']}"

    changed = await http.patch(
        url, json={"name": "PK3E Tegal 2024"}, headers={**client.headers, "If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"'
    assert changed.json()["name"] == "PK3E Tegal 2024"

    stale = await http.patch(
        url, json={"name": "Overwritten"}, headers={**client.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_mismatch"

    missing = await http.patch(url, json={"name": "Overwritten"}, headers=client.headers)
    assert missing.status_code == 428

    read = (await http.get(url, headers=client.headers)).json()
    assert (read["name"], read["version"]) == ("PK3E Tegal 2024", 2)

    updates = (
        await session.scalars(
            select(AuditEntry).where(
                col(AuditEntry.record_id) == read["id"], col(AuditEntry.action) == "update"
            )
        )
    ).all()
    assert [entry.changes for entry in updates] == [
        {"name": ["Program Kabupaten Tegal", "PK3E Tegal 2024"]}
    ]


async def test_patch_that_changes_nothing_keeps_the_version(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    body = program_body()
    await http.post("/api/v1/programs", json=body, headers=client.headers)
    same = await http.patch(
        f"/api/v1/programs/{body['code']}",
        json={"name": body["name"]},
        headers={**client.headers, "If-Match": '"1"'},
    )
    assert same.status_code == 200
    assert same.headers["etag"] == '"1"'


async def test_validation_names_every_field(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    bad_level = await http.post(
        "/api/v1/programs",
        json=program_body(level="provincial", region_code="33.28"),
        headers=client.headers,
    )
    assert bad_level.status_code == 422
    assert bad_level.json()["errors"] == [
        {
            "field": "region_code",
            "code": "wrong_level",
            "message": "A provincial program needs a province.",
        }
    ]
    sizes = await http.post(
        "/api/v1/programs",
        json=program_body(region_code="99.01", group_size_min=10, group_size_max=5),
        headers=client.headers,
    )
    assert {(e["field"], e["code"]) for e in sizes.json()["errors"]} == {
        ("region_code", "unknown_region"),
        ("group_size_max", "below_minimum"),
    }
    schema = await http.post(
        "/api/v1/programs",
        json=program_body(code="lower", level="galactic", surprise=1),
        headers=client.headers,
    )
    assert {(e["field"], e["code"]) for e in schema.json()["errors"]} == {
        ("code", "string_pattern_mismatch"),
        ("level", "enum"),
        ("surprise", "extra_forbidden"),
    }


async def test_refusals_change_nothing(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    client = await clients()
    before = len((await session.scalars(select(AuditEntry))).all())
    await http.post(
        "/api/v1/programs", json=program_body(region_code="99.01"), headers=client.headers
    )
    assert len((await session.scalars(select(AuditEntry))).all()) == before


async def test_duplicate_code_is_a_conflict(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    client = await clients()
    body = program_body()
    assert (
        await http.post("/api/v1/programs", json=body, headers=client.headers)
    ).status_code == 201
    again = await http.post("/api/v1/programs", json=body, headers=client.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_code"
