"""An export with unmasked NIK and No KK leaves one audit entry per family in the file, as a
list or a read by id does."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from service.audit.tables import AuditEntry
from service.kpm import export
from tests.factories import ClientFactory, family_body

VILLAGE = "33.28.02.2004"


async def reads_of(session: AsyncSession, client_id: str) -> list[tuple[str, str | None]]:
    rows = await session.execute(
        select(col(AuditEntry.record_id), col(AuditEntry.region_code)).where(
            col(AuditEntry.action) == "read_pii", col(AuditEntry.client_id) == client_id
        )
    )
    return sorted((record, region) for record, region in rows.all())


async def test_an_unmasked_export_audits_each_family_once(
    http: httpx.AsyncClient,
    clients: ClientFactory,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Chunks of two lines: a family of three spans two chunks and is still audited once.
    monkeypatch.setattr(export, "CHUNK_ROWS", 2)
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    made = [
        (await http.post("/api/v1/kpm", json=family_body(VILLAGE), headers=writer.headers)).json()
        for _ in range(3)
    ]
    reader = await clients(region=VILLAGE, scopes=["kpm:read", "pii:read"])

    exported = await http.get(
        "/api/v1/kpm/export", params={"format": "csv"}, headers=reader.headers
    )

    assert exported.status_code == 200
    assert len(exported.text.splitlines()) == 1 + 3 * 3
    assert await reads_of(session, reader.client_id) == sorted(
        (family["id"], VILLAGE) for family in made
    )


async def test_a_masked_export_audits_nothing(
    http: httpx.AsyncClient, clients: ClientFactory, session: AsyncSession
) -> None:
    writer = await clients(region=VILLAGE, scopes=["kpm:read", "kpm:write"])
    await http.post("/api/v1/kpm", json=family_body(VILLAGE), headers=writer.headers)
    reader = await clients(region=VILLAGE, scopes=["kpm:read"])

    exported = await http.get(
        "/api/v1/kpm/export", params={"format": "csv"}, headers=reader.headers
    )

    assert exported.status_code == 200
    assert await reads_of(session, reader.client_id) == []
