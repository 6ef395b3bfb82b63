"""A NIK clash that names the regency of a family outside the caller's region: audited without
the NIK, and limited per client (issue 10, defect 9)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.kpm.disclosures import ACTION
from service.kpm.importer import WITHHELD_REGENCY
from service.rate_limits import RateLimits
from service.settings import Settings
from tests.conftest import _app_on
from tests.factories import ClientFactory, IssuedClient, family_body, no_kk_for

WRITER = ["kpm:read", "kpm:write"]
CREATE = "mutation($i: FamilyCreateInput!) { createFamily(input: $i) { id } }"


@pytest.fixture
def limited_app(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> FastAPI:
    small = settings.model_copy(update={"rate_limit_identity_disclosures_per_client": "2/hour"})
    return _app_on(small, sessions, engine, read_sessions)


@pytest.fixture
async def door(limited_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=limited_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def offices(session: AsyncSession, limited_app: FastAPI) -> ClientFactory:
    return ClientFactory(session, limited_app.state.token_keys)


async def _tegal_family_and_a_clash(
    door: httpx.AsyncClient, offices: ClientFactory
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A family of Kabupaten Tegal, and a Brebes family whose husband carries the Tegal
    family's first NIK."""
    tegal = await offices(region="33.28", scopes=WRITER)
    first = family_body()
    created = await door.post("/api/v1/kpm", json=first, headers=tegal.headers)
    assert created.status_code == 201
    clash = family_body(village="33.29.01.2001")
    clash["members"][1] = {**first["members"][0], "relationship": "SUAMI"}
    return created.json(), clash, first["members"][0]["nik"]


async def _disclosures(session: AsyncSession, client: IssuedClient) -> list[AuditEntry]:
    return list(
        (
            await session.scalars(
                select(AuditEntry)
                .where(col(AuditEntry.action) == ACTION)
                .where(col(AuditEntry.client_id) == client.client_id)
                .order_by(col(AuditEntry.id))
            )
        ).all()
    )


async def test_each_regency_answer_is_audited_without_the_nik(
    door: httpx.AsyncClient, offices: ClientFactory, session: AsyncSession
) -> None:
    family, clash, nik = await _tegal_family_and_a_clash(door, offices)
    brebes = await offices(region="33.29", scopes=WRITER)

    refused = await door.post("/api/v1/kpm", json=clash, headers=brebes.headers)
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["message"] == "Already in a live family of regency 33.28."

    (entry,) = await _disclosures(session, brebes)
    assert entry.entity == "kpm"
    assert entry.record_id == family["id"]
    assert entry.region_code == "33.28.02.2001"
    assert entry.changes == {"field": [None, "members.1.nik"]}
    assert entry.request_id == refused.headers["x-request-id"]
    assert nik not in json.dumps(entry.model_dump(mode="json"))

    # A national client sees the family itself: no regency disclosed, nothing to audit.
    national = await offices(scopes=WRITER)
    seen = await door.post("/api/v1/kpm", json=clash, headers=national.headers)
    assert seen.status_code == 409
    assert await _disclosures(session, national) == []


async def test_regency_answers_are_limited_per_client(
    door: httpx.AsyncClient, offices: ClientFactory, session: AsyncSession
) -> None:
    _, clash, _ = await _tegal_family_and_a_clash(door, offices)
    brebes = await offices(region="33.29", scopes=WRITER)
    for _ in range(2):
        answered = await door.post("/api/v1/kpm", json=clash, headers=brebes.headers)
        assert answered.status_code == 409
    limited = await door.post("/api/v1/kpm", json=clash, headers=brebes.headers)
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) > 3000  # the window is an hour
    assert "33.28" not in limited.text
    # The refused answer disclosed nothing, so only the two answers are in the trail.
    assert len(await _disclosures(session, brebes)) == 2
    # The limit is on disclosures only: the client goes on writing.
    own = await door.post(
        "/api/v1/kpm", json=family_body(village="33.29.01.2002"), headers=brebes.headers
    )
    assert own.status_code == 201


def _graphql_input(body: dict[str, Any]) -> dict[str, Any]:
    names = {"no_kk": "noKk", "village_code": "villageCode", "birth_date": "birthDate"}
    result = {names.get(k, k): v for k, v in body.items() if k != "members"}
    result["members"] = [{names.get(k, k): v for k, v in m.items()} for m in body["members"]]
    return result


async def test_graphql_answers_are_audited_and_limited_alike(
    door: httpx.AsyncClient, offices: ClientFactory, session: AsyncSession
) -> None:
    family, clash, _ = await _tegal_family_and_a_clash(door, offices)
    brebes = await offices(region="33.29", scopes=WRITER)
    request = {"query": CREATE, "variables": {"i": _graphql_input(clash)}}

    codes = []
    for _ in range(3):
        answer = await door.post("/graphql", json=request, headers=brebes.headers)
        codes.append(answer.json()["errors"][0]["extensions"])
    assert [extensions["code"] for extensions in codes] == [
        "nik_conflict",
        "nik_conflict",
        "rate_limited",
    ]
    assert codes[0]["errors"][0]["message"] == "Already in a live family of regency 33.28."
    assert codes[2]["retry_after"] > 3000
    assert "33.28" not in json.dumps(codes[2])
    assert [entry.record_id for entry in await _disclosures(session, brebes)] == [
        family["id"],
        family["id"],
    ]


def _import_csv(families: list[dict[str, Any]]) -> bytes:
    lines = ["no_kk,nik,name,relationship,sex,birth_date,village_code,address,desil,programs"]
    for family in families:
        for member in family["members"]:
            lines.append(
                ",".join(
                    [
                        family["no_kk"], member["nik"], member["name"], member["relationship"],
                        member["sex"], member["birth_date"], family["village_code"],
                        family["address"], str(family["desil"]), "PKH",
                    ]
                )
            )  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


async def test_an_import_names_regencies_up_to_the_limit_and_audits_them(
    own_app: FastAPI, own_http: httpx.AsyncClient
) -> None:
    own_app.state.rate_limits = RateLimits(
        own_app.state.settings.model_copy(
            update={"rate_limit_identity_disclosures_per_client": "2/hour"}
        )
    )
    async with own_app.state.sessions() as session:
        offices = ClientFactory(session, own_app.state.token_keys, commit=True)
        tegal = await offices(region="33.28", scopes=WRITER)
        brebes = await offices(region="33.29", scopes=WRITER)
    held = []
    for village in ("33.28.02.2001", "33.28.02.2002", "33.28.02.2003"):
        body = family_body(village=village, no_kk=no_kk_for(village[:8], dt.date(2020, 1, 2)))
        created = await own_http.post("/api/v1/kpm", json=body, headers=tegal.headers)
        assert created.status_code == 201, created.text
        held.append((created.json()["id"], body["members"][0]["nik"]))
    # Three Brebes families, each with a husband whose NIK a Tegal family holds.
    guesses = []
    for index, (_, nik) in enumerate(held):
        village = f"33.29.01.200{index + 1}"
        family = family_body(village=village, no_kk=no_kk_for(village[:8], dt.date(2021, 3, 4)))
        family["members"][1] = {**family["members"][1], "nik": nik}
        guesses.append(family)

    started = await own_http.post(
        "/api/v1/kpm/imports?format=csv", content=_import_csv(guesses), headers=brebes.headers
    )
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = (await own_http.get(started.headers["location"], headers=brebes.headers)).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done", job
    refusals = (
        await own_http.get(f"{started.headers['location']}/refusals", headers=brebes.headers)
    ).json()["items"]
    messages = sorted(refusal["message"] for refusal in refusals)
    assert messages == [
        *["The NIK belongs to a live family of regency 33.28."] * 2,
        WITHHELD_REGENCY,
    ]
    async with own_app.state.sessions() as session:
        entries = await _disclosures(session, brebes)
    held_ids = {family_id for family_id, _ in held}
    assert len(entries) == 2
    assert {entry.record_id for entry in entries} <= held_ids
    assert all(entry.changes["field"][1].endswith(" nik") for entry in entries)  # type: ignore[index]
    for _, nik in held:
        assert all(nik not in json.dumps(entry.model_dump(mode="json")) for entry in entries)
