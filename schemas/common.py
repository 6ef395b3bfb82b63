"""Shapes shared by every resource: pages and record metadata."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

T = TypeVar("T")

# To JSON Schema `2000.0` is an integer; a strict field (money, whole rupiah) refuses it with
# 422 `int_type`. The mark puts that in the OpenAPI document, where a generated client sees it.
STRICT_INTEGER = "x-strict-integer"
WHOLE_NUMBER_ONLY: JsonDict = {STRICT_INTEGER: True}

# Request fields take what their JSON Schema type says, where Pydantic's lax mode would read
# more (found by schemathesis' negative_data_rejection): an integer is a JSON integer, not `true`
# or "5" (nor `5.0`, so it carries the mark above); a boolean is `true` or `false`, not `1` or
# "yes"; a date is text, YYYY-MM-DD, not `0` read as a Unix time. GraphQL's Int, Boolean and Date
# arrive as these very Python values, so both doors keep one set of types.
Integer = Annotated[int, Strict(), Field(json_schema_extra=WHOLE_NUMBER_ONLY)]
Boolean = Annotated[bool, Strict()]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_as_text(value: Any) -> Any:
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise PydanticCustomError("date_type", "A date, YYYY-MM-DD.")


IsoDate = Annotated[dt.date, BeforeValidator(_date_as_text)]


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
