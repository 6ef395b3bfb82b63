"""A read of a family with personal numbers is audited by the very statement that reads it (no
transaction around it): by the time the answer has arrived, the audit entry is committed and
anyone can see it; a masked read and a read of a family outside the region write none."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.database import create_session_factory
from tests.factories import ClientFactory, IssuedClient, family_body

VILLAGE = "33.28.02.2007"
OTHER_VILLAGE = "33.28.02.2008"


async def audited_reads(engine: AsyncEngine, reader: IssuedClient) -> list[tuple[str, str | None]]:
    """The reader's audited reads, seen from a connection of the test's own."""
    async with create_session_factory(engine)() as session:
        rows = await session.execute(
            select(col(AuditEntry.record_id), col(AuditEntry.region_code)).where(
                col(AuditEntry.action) == "read_pii",
                col(AuditEntry.client_id) == uuid.UUID(reader.client_id),
            )
        )
        return [(record, region) for record, region in rows.all()]


async def test_the_audit_entry_is_committed_when_the_answer_arrives(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    writer = await live_clients(region=VILLAGE, scopes=["kpm:write", "kpm:read"])
    body = family_body(VILLAGE)
    family = (await live_http.post("/api/v1/kpm", json=body, headers=writer.headers)).json()
    reader = await live_clients(region=VILLAGE, scopes=["kpm:read", "pii:read"])

    for reads in (1, 2):
        answer = await live_http.get(f"/api/v1/kpm/{family['id']}", headers=reader.headers)
        assert answer.status_code == 200
        assert answer.json()["no_kk"] == body["no_kk"]  # unmasked
        assert answer.headers["etag"] == f'"{family["version"]}"'
        assert await audited_reads(engine, reader) == [(family["id"], VILLAGE)] * reads


async def test_masked_and_refused_reads_write_no_audit_entry(
    live_http: httpx.AsyncClient, live_clients: ClientFactory, engine: AsyncEngine
) -> None:
    writer = await live_clients(region=VILLAGE, scopes=["kpm:write", "kpm:read"])
    family = (
        await live_http.post("/api/v1/kpm", json=family_body(VILLAGE), headers=writer.headers)
    ).json()
    masked = await live_clients(region=VILLAGE, scopes=["kpm:read"])
    elsewhere = await live_clients(region=OTHER_VILLAGE, scopes=["kpm:read", "pii:read"])

    answer = await live_http.get(f"/api/v1/kpm/{family['id']}", headers=masked.headers)
    assert answer.status_code == 200
    assert answer.json()["no_kk"].endswith("*" * 10)
    refused = await live_http.get(f"/api/v1/kpm/{family['id']}", headers=elsewhere.headers)
    assert refused.status_code == 404
    async with create_session_factory(engine)() as session:
        entries = await session.scalar(
            select(func.count()).where(
                col(AuditEntry.action) == "read_pii", col(AuditEntry.record_id) == family["id"]
            )
        )
    assert entries == 0
