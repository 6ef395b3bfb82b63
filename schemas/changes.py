"""The change feed on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entity: str = Field(
        description="The record's type: `kpm` (a family), `facilitator`, `program`, `kube`, "
        "`kube_grant`, `training_cohort`, `training_participant`, `allocation`, "
        "`disbursement`.",
        examples=["kpm"],
    )
    record_id: str = Field(description="The record's id.")
    action: str = Field(
        description="What happened: `create`, `update`, `archive`, `transition`, ...; "
        "`leave` when the record moved out of your region (drop it from your copy: you will "
        "see no more of it unless it comes back).",
        examples=["update"],
    )
    version: int | None = Field(description="The record's version after the change.")
    changed_fields: list[str] | None = Field(
        description="The fields the change touched, when known."
    )
    occurred_at: datetime = Field(description="When the writing transaction began.")
    region_code: str | None = Field(
        description="The record's region, dotted; `null` for national records (programs). "
        "For `leave`, the region it left."
    )
    record: dict[str, Any] | None = Field(
        description="The record as of this change, as `GET` on it shows it (masked for your "
        "scopes the same way); `null` for `leave`."
    )


class ChangePage(BaseModel):
    items: list[ChangeOut]
    next_cursor: str = Field(
        description="Always given: pass it as `after` to get the changes that follow, also "
        "after an empty page."
    )
