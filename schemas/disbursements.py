"""Wire shapes of disbursements: single and batch creation, status transitions, reconciliation
reports. Shapes only; the rules (budget, regions, once per period, the status machine) are the
service's, the same for one payment, a batch or a reconciliation file."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from schemas.allocations import MAX_AMOUNT
from schemas.common import WHOLE_NUMBER_ONLY, RecordOut

# A year (`2026`), a quarter (`2026-Q1`) or a month (`2026-03`).
PERIOD_PATTERN = r"^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"
MAX_BATCH_ITEMS = 10_000


class RecipientKind(StrEnum):
    kpm = "kpm"  # a beneficiary family
    kube = "kube"  # a joint business group


class Channel(StrEnum):
    bank_transfer = "bank_transfer"
    pos = "pos"  # PT Pos Indonesia
    kks = "kks"  # Kartu Keluarga Sejahtera (the beneficiary's card account)
    cash = "cash"


class DisbursementStatus(StrEnum):
    scheduled = "scheduled"
    sent = "sent"
    confirmed = "confirmed"
    failed = "failed"
    reversed = "reversed"


_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DisbursementCreate(BaseModel):
    model_config = _STRICT

    allocation_id: uuid.UUID
    recipient_kind: RecipientKind
    recipient_id: uuid.UUID = Field(description="The family's or the KUBE group's id.")
    amount: int = Field(
        strict=True, ge=1, le=MAX_AMOUNT, examples=[2_500_000], json_schema_extra=WHOLE_NUMBER_ONLY
    )
    purpose: str = Field(min_length=1, max_length=200, examples=["Modal usaha"])
    channel: Channel
    period: str | None = Field(
        default=None,
        pattern=PERIOD_PATTERN,
        description="`YYYY`, `YYYY-Qn` or `YYYY-MM`, in the allocation's fiscal year. A recipient "
        "gets a program's benefit at most once per period; without a period there is no such "
        "limit (one-off payments).",
        examples=["2026-Q1"],
    )
    external_reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The bank's or post office's reference, unique; it can also be given later, "
        "with a transition.",
    )


class DisbursementOut(RecordOut):
    allocation_id: uuid.UUID
    program_code: str = Field(description="The allocation's program.")
    recipient_kind: RecipientKind
    recipient_id: uuid.UUID
    region_code: str = Field(description="The recipient's village; decides who sees the payment.")
    amount: int = Field(description="Whole rupiah.")
    purpose: str
    channel: Channel
    period: str | None
    status: DisbursementStatus
    external_reference: str | None


class TransitionRequest(BaseModel):
    model_config = _STRICT

    to: DisbursementStatus
    note: str = Field(min_length=1, max_length=500, examples=["Ditransfer lewat Bank Jateng"])
    external_reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Sets the reference if the disbursement has none yet.",
    )


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: DisbursementStatus | None = Field(description="Empty for the creation.")
    to_status: DisbursementStatus
    note: str | None
    external_reference: str | None
    on_date: dt.date | None = Field(description="The settlement date a reconciliation file gave.")
    at: dt.datetime
    actor: str = Field(description="The client that made the change.")
    by_client: uuid.UUID | None


class DisbursementBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Items are checked one by one by the service, so that a bad item is refused on its own
    # (with its index, field and code) instead of failing the whole batch.
    items: Annotated[
        list[SkipValidation[DisbursementCreate]],
        Field(min_length=1, max_length=MAX_BATCH_ITEMS),
    ]


class ItemError(BaseModel):
    code: str = Field(examples=["allocation_exhausted"])
    field: str = Field(description="The item's offending field, e.g. `amount`.")
    message: str


class BatchItemResult(BaseModel):
    index: int = Field(description="Position of the item in `items`, from 0.")
    status: Literal["created", "refused"]
    id: uuid.UUID | None = Field(description="The new disbursement, when created.")
    error: ItemError | None = Field(description="Why the item was refused.")


class BatchResult(BaseModel):
    received: int
    created: int
    refused: int
    amount_created: int = Field(description="Sum of the created disbursements, in rupiah.")
    items: list[BatchItemResult]


class Mismatch(BaseModel):
    line: int = Field(description="Line in the file; the header is line 1.")
    reference: str | None
    code: str = Field(examples=["unknown_reference", "amount_mismatch"])
    message: str


class ReconciliationResult(BaseModel):
    lines: int = Field(description="Data lines read (the header not counted).")
    settled: int = Field(description="Disbursements whose status the file changed.")
    confirmed: int
    failed: int
    unchanged: int = Field(description="Lines whose disbursement already had that status.")
    mismatched: int
    mismatches: list[Mismatch] = Field(description="Lines that changed nothing, and why.")
