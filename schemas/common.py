"""Shapes shared by every resource: pages and record metadata."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

T = TypeVar("T")

# To JSON Schema `2000.0` is an integer; a strict field (money, whole rupiah) refuses it with
# 422 `int_type`. The mark puts that in the OpenAPI document, where a generated client sees it.
STRICT_INTEGER = "x-strict-integer"
WHOLE_NUMBER_ONLY: JsonDict = {STRICT_INTEGER: True}


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; `null` on the last page."
    )


class RecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Goes up by one on every change; the `ETag` of the record.")
