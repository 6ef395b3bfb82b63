"""Where a recipient lives. A family (``kpm``) or a KUBE group (``kube``) receives money; its
village decides whether the caller may pay it and from which allocations.

KUBE groups are kept in table ``kube_group`` by the KUBE package. This package reads that table
with plain SQL instead of importing its model, so it does not depend on the package, and it asks
the database first whether the table exists: on a database without it, no group exists."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from service.database import driver_connection


async def recipient_region(session: AsyncSession, kind: str, recipient_id: uuid.UUID) -> str | None:
    """The village of a live family or of a KUBE group; ``None`` when there is no such
    recipient."""
    return (await recipient_regions(session, kind, [recipient_id])).get(recipient_id)


async def recipient_regions(
    session: AsyncSession, kind: str, recipient_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """``recipient_region`` for many recipients of one kind, in one query."""
    ids = list(set(recipient_ids))
    if not ids:
        return {}
    connection = await driver_connection(session)
    if kind == "kpm":
        rows = await connection.fetch(
            "SELECT id, village_code FROM kpm_family"
            " WHERE id = any($1::uuid[]) AND archived_at IS NULL",
            ids,
        )
    elif kind == "kube":
        # A dissolved group no longer has a business (or an account) to pay.
        rows = await connection.fetch(
            "SELECT id, village_code FROM kube_group"
            " WHERE id = any($1::uuid[]) AND status <> 'dissolved'",
            ids,
        )
    else:
        return {}
    return {row["id"]: row["village_code"] for row in rows}
