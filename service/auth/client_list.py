"""The list of clients the operator sees (never their secrets).

A plain query on an asyncpg connection, not an ORM load: ``dinsos clients list`` then starts
without SQLAlchemy, which was half of its time. The query names the columns of
``service.auth.tables.ApiClient``; the command's test reads a created client back through it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class ClientSummary:
    id: uuid.UUID
    name: str
    region_code: str | None
    scopes: list[str]
    revoked_at: datetime | None


_CLIENTS = "SELECT id, name, region_code, scopes, revoked_at FROM api_client ORDER BY created_at"


async def list_clients(connection: asyncpg.Connection) -> list[ClientSummary]:
    return [ClientSummary(**row) for row in await connection.fetch(_CLIENTS)]
