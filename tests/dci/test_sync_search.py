"""``registry/sync/search`` by identifier: a family (Group) or a person (Member) by NIK or No KK,
masked as REST masks, audited as REST audits, within the caller's region only, and signed by
the registry with the key it publishes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.dci.signatures import verify_signature
from service.dci.tables import SenderKey
from tests.dci.messages import by_id, search, send
from tests.factories import ClientFactory, IssuedClient, family_body

VILLAGE = "33.26.06.2001"
ELSEWHERE = "33.26.07.2001"


async def registered(http: httpx.AsyncClient, writer: IssuedClient, village: str) -> dict[str, Any]:
    body = family_body(village)
    response = await http.post("/api/v1/kpm", json=body, headers=writer.headers)
    assert response.status_code == 201, response.text
    return {**response.json(), "sent": body}


async def test_a_family_is_found_by_nik_as_a_group_masked(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    family = await registered(http, writer, VILLAGE)
    reader = await clients(region=VILLAGE, scopes=["kpm:read"])
    wife = family["sent"]["members"][1]

    answer = await send(http, "/registry/sync/search", search(by_id("NIK", wife["nik"])), reader)

    assert answer.status == 200
    assert answer.header["action"] == "on-search"
    assert answer.header["status"] == "succ"
    assert (answer.header["total_count"], answer.header["completed_count"]) == (1, 1)
    assert answer.body["message"]["correlation_id"]
    (group,) = answer.records()
    assert answer.items[0]["pagination"] == {"page_size": 50, "page_number": 1, "total_count": 1}
    rest = (await http.get(f"/api/v1/kpm/{family['id']}", headers=reader.headers)).json()
    assert group["@id"] == family["id"]
    assert group["group_identifier"][0] == {
        "@type": "Identifier", "identifier_type": "KK", "identifier_value": rest["no_kk"],
    }  # fmt: skip
    assert rest["no_kk"].endswith("*" * 10)
    assert [m["member_identifier"][0]["identifier_value"] for m in group["member_list"]] == [
        m["nik"] for m in rest["members"]
    ]
    assert group["village_code"] == VILLAGE
    assert group["poverty_score"] == family["sent"]["desil"]
    assert group["group_size"] == 3
    assert group["group_head_info"]["relationship_head"] == "KEPALA_KELUARGA"
    assert [e["programme_identifier"] for e in group["enrolments"]] == ["PKH"]
    assert group["member_list"][1]["demographic_info"]["sex"] == "female"
    assert group["member_list"][1]["demographic_info"]["birth_date"] == wife["birth_date"]


async def test_a_person_is_found_by_nik_as_a_member_unmasked_and_audited(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    family = await registered(http, writer, VILLAGE)
    reader = await clients(region=VILLAGE, scopes=["kpm:read", "pii:read"])
    child = family["sent"]["members"][2]

    answer = await send(
        http, "/registry/sync/search", search(by_id("NIK", child["nik"], entity="Member")), reader
    )

    (member,) = answer.records()
    assert answer.items[0]["data"]["reg_record_type"] == "Member"
    assert member["member_identifier"][0] == {
        "@type": "Identifier", "identifier_type": "NIK", "identifier_value": child["nik"],
    }  # fmt: skip
    assert member["demographic_info"]["name"]["given_name"] == child["name"]
    assert member["relationship_head"] == "ANAK"
    assert member["group_id"] == family["id"]
    assert member["group_identifier"][0]["identifier_value"] == family["sent"]["no_kk"]
    audited = await session.execute(
        select(col(AuditEntry.record_id), col(AuditEntry.region_code)).where(
            col(AuditEntry.action) == "read_pii",
            col(AuditEntry.client_id) == uuid.UUID(reader.client_id),
        )
    )
    assert audited.all() == [(family["id"], VILLAGE)]


async def test_a_family_card_finds_every_member(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    family = await registered(http, writer, VILLAGE)
    reader = await clients(region=VILLAGE, scopes=["kpm:read"])
    no_kk = family["sent"]["no_kk"]

    answer = await send(
        http,
        "/registry/sync/search",
        search(by_id("KK", no_kk), by_id("KK", no_kk, entity="Member")),
        reader,
    )

    assert [group["@id"] for group in answer.records(0)] == [family["id"]]
    assert [m["relationship_head"] for m in answer.records(1)] == [
        "KEPALA_KELUARGA",
        "ISTRI",
        "ANAK",
    ]
    assert answer.items[1]["pagination"]["total_count"] == 3


async def test_a_village_client_finds_nothing_of_a_family_elsewhere(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    writer = await clients(region=ELSEWHERE, scopes=["kpm:read", "kpm:write"])
    family = await registered(http, writer, ELSEWHERE)
    village = await clients(region=VILLAGE, scopes=["kpm:read", "pii:read"])
    nik = family["sent"]["members"][0]["nik"]

    answer = await send(
        http,
        "/registry/sync/search",
        search(
            by_id("NIK", nik),
            by_id("NIK", nik, entity="Member"),
            by_id("KK", family["sent"]["no_kk"]),
        ),
        village,
    )

    for index in range(3):
        assert answer.records(index) == []
        assert answer.items[index]["pagination"]["total_count"] == 0
    # As REST: the family is not found for this client, and is for its own village's.
    assert (
        await http.get(f"/api/v1/kpm/{family['id']}", headers=village.headers)
    ).status_code == 404
    assert (
        len(
            (await send(http, "/registry/sync/search", search(by_id("NIK", nik)), writer)).records()
        )
        == 1
    )


async def test_the_answer_is_signed_with_the_published_key(
    http: httpx.AsyncClient, clients: ClientFactory
) -> None:
    reader = await clients(region=VILLAGE, scopes=["kpm:read"])
    answer = await send(
        http, "/registry/sync/search", search(by_id("NIK", "3326064101900001")), reader
    )
    jwks = (await http.get("/dci/.well-known/jwks.json")).json()
    (key,) = jwks["keys"]
    assert key["kty"] == "OKP"
    assert "d" not in key
    published = SenderKey(
        client_id=uuid.uuid4(), key_id=key["kid"], algorithm="ed25519",
        public_jwk={name: key[name] for name in ("kty", "crv", "x")},
    )  # fmt: skip
    assert answer.header["sender_id"] == "dinsos-exchange"
    assert answer.header["receiver_id"] == "sidesa.example.org"
    assert verify_signature(
        answer.body["signature"], answer.header, answer.body["message"], [published],
        now=dt.datetime.now(dt.UTC),
    )  # fmt: skip


async def test_an_unmasked_lookup_is_audited_once_and_a_replay_not_at_all(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    family = await registered(http, writer, VILLAGE)
    reader = await clients(region=VILLAGE, scopes=["kpm:read", "pii:read"])
    body = search(by_id("KK", family["sent"]["no_kk"]))

    answer = await send(http, "/registry/sync/search", body, reader)
    (group,) = answer.records()
    assert group["group_identifier"][0]["identifier_value"] == family["sent"]["no_kk"]
    replay = await send(http, "/registry/sync/search", body, reader)
    assert replay.header["status_reason_code"] == "rjct.message_id.duplicate"

    audited = await session.execute(
        select(col(AuditEntry.record_id)).where(
            col(AuditEntry.action) == "read_pii",
            col(AuditEntry.client_id) == uuid.UUID(reader.client_id),
        )
    )
    assert audited.scalars().all() == [family["id"]]
