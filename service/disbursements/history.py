"""The status history of disbursements: one row per move, with who made it and when."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from service.access import Caller
from service.database import driver_connection


@dataclass(frozen=True)
class Step:
    disbursement_id: uuid.UUID
    from_status: str | None
    to_status: str
    note: str | None = None
    external_reference: str | None = None
    on_date: dt.date | None = None


async def record_steps(session: AsyncSession, caller: Caller, steps: Sequence[Step]) -> None:
    """Append the steps with one COPY, however many there are."""
    if not steps:
        return
    connection = await driver_connection(session)
    await connection.copy_records_to_table(
        "disbursement_transition",
        records=[
            (
                step.disbursement_id,
                step.from_status,
                step.to_status,
                step.note,
                step.external_reference,
                step.on_date,
                caller.client_id,
                caller.name,
                caller.request_id,
            )
            for step in steps
        ],
        columns=[
            "disbursement_id",
            "from_status",
            "to_status",
            "note",
            "external_reference",
            "on_date",
            "by_client",
            "actor",
            "request_id",
        ],
    )
