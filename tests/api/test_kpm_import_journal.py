"""What a bulk import leaves in the journal (audit entries and change events), read back and
compared with what the same write through REST leaves. Each test imports a few families built
here, on a database of its own (imports run in the background, outside a test transaction)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.changes.tables import ChangeEvent
from service.kpm.import_files import FIELDS
from tests.factories import ClientFactory, IssuedClient, family_body, member_body

WRITES = ("create", "update")


@pytest.fixture
async def writer(own_app: FastAPI) -> IssuedClient:
    async with own_app.state.sessions() as session:
        return await ClientFactory(session, own_app.state.token_keys, commit=True)(
            region="33.28", scopes=["kpm:read", "kpm:write"]
        )


def roll_csv(*families: dict[str, Any]) -> bytes:
    """The import CSV of REST family bodies (``tests.factories.family_body``)."""
    lines = [",".join(FIELDS)]
    for family in families:
        for member in family["members"]:
            values = [
                family["no_kk"],
                member["nik"],
                member["name"],
                member["relationship"],
                member["sex"],
                member["birth_date"],
                family["village_code"],
                family["address"],
                str(family["desil"]),
                ";".join(family["programs"]),
            ]
            lines.append(",".join(values))
    return ("\n".join(lines) + "\n").encode()


async def _import(http: httpx.AsyncClient, client: IssuedClient, content: bytes) -> dict[str, Any]:
    started = await http.post("/api/v1/kpm/imports", content=content, headers=client.headers)
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = (await http.get(started.headers["location"], headers=client.headers)).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done", job
    return dict(job)


async def _family(http: httpx.AsyncClient, client: IssuedClient, no_kk: str) -> dict[str, Any]:
    listed = await http.get("/api/v1/kpm", params={"no_kk": no_kk}, headers=client.headers)
    (family,) = listed.json()["items"]
    return dict(family)


async def _audit(app: FastAPI, family_id: str) -> list[tuple[Any, ...]]:
    """(client, action, entity, region, changes) of each write audited for the family."""
    async with app.state.sessions() as session:
        entries = await session.scalars(
            select(AuditEntry)
            .where(col(AuditEntry.record_id) == family_id, col(AuditEntry.action).in_(WRITES))
            .order_by(col(AuditEntry.id))
        )
        return [(str(e.client_id), e.action, e.entity, e.region_code, e.changes) for e in entries]


async def _events(app: FastAPI, family_id: str) -> list[tuple[Any, ...]]:
    """(client, action, entity, region, version, changed fields) of each change event."""
    async with app.state.sessions() as session:
        events = await session.scalars(
            select(ChangeEvent)
            .where(col(ChangeEvent.record_id) == family_id)
            .order_by(col(ChangeEvent.id))
        )
        return [
            (str(e.client_id), e.action, e.entity, e.region_code, e.version, e.changed_fields)
            for e in events
        ]


async def test_an_imported_family_is_journaled_as_a_rest_create(
    own_app: FastAPI, own_http: httpx.AsyncClient, writer: IssuedClient
) -> None:
    posted = await own_http.post("/api/v1/kpm", json=family_body(), headers=writer.headers)
    assert posted.status_code == 201, posted.text
    imported = family_body()
    await _import(own_http, writer, roll_csv(imported))
    imported_id = (await _family(own_http, writer, imported["no_kk"]))["id"]

    assert await _audit(own_app, imported_id) == await _audit(own_app, posted.json()["id"])
    assert await _events(own_app, imported_id) == await _events(own_app, posted.json()["id"])
    assert await _events(own_app, imported_id) == [
        (
            writer.client_id,
            "create",
            "kpm",
            "33.28.02.2001",
            1,
            ["members", "no_kk", "programs", "village_code"],
        )
    ]


async def test_a_reimport_with_one_changed_member_writes_one_update_of_that_family(
    own_app: FastAPI, own_http: httpx.AsyncClient, writer: IssuedClient
) -> None:
    changing, staying = family_body(), family_body()
    await _import(own_http, writer, roll_csv(changing, staying))
    before = await _family(own_http, writer, changing["no_kk"])
    staying_id = (await _family(own_http, writer, staying["no_kk"]))["id"]

    changing["members"][2]["name"] = "Budi Santoso"
    job = await _import(own_http, writer, roll_csv(changing, staying))

    assert (job["families_updated"], job["families_unchanged"]) == (1, 1)
    after = await _family(own_http, writer, changing["no_kk"])
    assert [m["name"] for m in after["members"]] == ["Slamet Riyadi", "Siti Aminah", "Budi Santoso"]
    assert [m["id"] for m in after["members"]] == [m["id"] for m in before["members"]]
    assert after["version"] == 2
    events = await _events(own_app, after["id"])
    assert events[1:] == [(writer.client_id, "update", "kpm", "33.28.02.2001", 2, ["members"])]
    (_, update) = await _audit(own_app, after["id"])
    changed_id = before["members"][2]["id"]
    assert update[1:4] == ("update", "kpm", "33.28.02.2001")
    assert update[4] == {"members": [[changed_id], [changed_id]]}
    assert len(await _events(own_app, staying_id)) == 1  # its create only


async def test_reimporting_the_same_file_journals_nothing(
    own_app: FastAPI, own_http: httpx.AsyncClient, writer: IssuedClient
) -> None:
    family = family_body()
    await _import(own_http, writer, roll_csv(family))
    family_id = (await _family(own_http, writer, family["no_kk"]))["id"]

    job = await _import(own_http, writer, roll_csv(family))

    assert (job["families_updated"], job["families_unchanged"]) == (0, 1)
    assert [event[1] for event in await _events(own_app, family_id)] == ["create"]
    assert [entry[1] for entry in await _audit(own_app, family_id)] == ["create"]
    assert (await _family(own_http, writer, family["no_kk"]))["version"] == 1


async def test_a_reimported_address_is_journaled_as_a_rest_update_of_it(
    own_app: FastAPI, own_http: httpx.AsyncClient, writer: IssuedClient
) -> None:
    posted = (await own_http.post("/api/v1/kpm", json=family_body(), headers=writer.headers)).json()
    patched = await own_http.patch(
        f"/api/v1/kpm/{posted['id']}",
        json={"address": "RT 01 RW 01"},
        headers={**writer.headers, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    imported = family_body()
    await _import(own_http, writer, roll_csv(imported))
    imported_id = (await _family(own_http, writer, imported["no_kk"]))["id"]

    await _import(own_http, writer, roll_csv(dict(imported, address="RT 01 RW 01")))

    assert await _audit(own_app, imported_id) == await _audit(own_app, posted["id"])
    assert await _events(own_app, imported_id) == await _events(own_app, posted["id"])
    assert (await _events(own_app, imported_id))[-1][1:] == (
        "update",
        "kpm",
        "33.28.02.2001",
        2,
        ["address"],
    )


async def test_a_reimport_that_adds_and_removes_members_names_them_in_one_update(
    own_app: FastAPI, own_http: httpx.AsyncClient, writer: IssuedClient
) -> None:
    family = family_body()
    await _import(own_http, writer, roll_csv(family))
    before = await _family(own_http, writer, family["no_kk"])
    newborn = member_body("ANAK", name="Dewi", female=True)
    family["members"] = [*family["members"][:2], newborn]  # Budi leaves, Dewi comes

    await _import(own_http, writer, roll_csv(family))

    after = await _family(own_http, writer, family["no_kk"])
    assert [m["name"] for m in after["members"]] == ["Slamet Riyadi", "Siti Aminah", "Dewi"]
    assert after["version"] == 2
    (_, update) = await _audit(own_app, after["id"])
    assert update[4] == {"members": [[before["members"][2]["id"]], [after["members"][2]["id"]]]}
    assert (await _events(own_app, after["id"]))[-1][1:] == (
        "update",
        "kpm",
        "33.28.02.2001",
        2,
        ["members"],
    )
