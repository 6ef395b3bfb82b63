"""Money in the stories: allocations, payments through the batch path, and their settlement,
all through the service functions the API uses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from schemas.allocations import AllocationCreate, FundingSource
from schemas.disbursements import (
    Channel,
    DisbursementCreate,
    DisbursementStatus,
    RecipientKind,
    TransitionRequest,
)
from service.allocations.service import create_allocation
from service.demo.common import Sessions, demo_caller
from service.disbursements.creation import create_disbursements
from service.disbursements.transitions import transition_disbursement


async def allocate(
    sessions: Sessions,
    program: str,
    year: int,
    source: FundingSource,
    region: str,
    amount: int,
) -> uuid.UUID:
    body = AllocationCreate(
        program_code=program, fiscal_year=year, funding_source=source, region_code=region,
        amount=amount,
    )  # fmt: skip
    async with sessions() as session, session.begin():
        return (await create_allocation(session, demo_caller(), body)).id


async def pay(
    sessions: Sessions,
    allocation_id: uuid.UUID,
    recipients: Sequence[tuple[RecipientKind, uuid.UUID]],
    *,
    amount: int,
    purpose: str,
    period: str,
    channel: Channel = Channel.bank_transfer,
) -> list[uuid.UUID]:
    """Scheduled payments, one per recipient, in one batch; answers their ids."""
    items = [
        DisbursementCreate(
            allocation_id=allocation_id,
            recipient_kind=kind,
            recipient_id=recipient,
            amount=amount,
            purpose=purpose,
            channel=channel,
            period=period,
        )  # fmt: skip
        for kind, recipient in recipients
    ]
    async with sessions() as session, session.begin():
        outcomes = await create_disbursements(session, demo_caller(), items)
    refused = [o.refusal for o in outcomes if o.refusal is not None]
    if refused:
        raise RuntimeError(f"demo payments refused: {refused[:3]}")
    return [o.disbursement_id for o in outcomes if o.disbursement_id is not None]


async def settle(sessions: Sessions, payments: Sequence[uuid.UUID], reference: str) -> None:
    """Sent to the bank, then confirmed by it."""
    async with sessions() as session, session.begin():
        for n, payment in enumerate(payments):
            await transition_disbursement(
                session, demo_caller(), payment,
                TransitionRequest(to=DisbursementStatus.sent, note="Dikirim ke bank",
                                  external_reference=f"{reference}-{n + 1:05d}"),
            )  # fmt: skip
            await transition_disbursement(
                session, demo_caller(), payment,
                TransitionRequest(to=DisbursementStatus.confirmed, note="Dikonfirmasi bank"),
            )  # fmt: skip
