from __future__ import annotations

from sqlalchemy import CheckConstraint
from sqlmodel import Field

from service.records import RecordColumns


class Program(RecordColumns, table=True):
    """A social program. ``region_code`` is the owning region: ``None`` for programs every office
    runs (PKH, BPNT, ...), a province or regency for a local program, which only callers in that
    region see. Group programs (KUBE) carry the allowed group size."""

    __tablename__ = "program"
    __table_args__ = (
        CheckConstraint(
            "group_size_min IS NULL OR (group_size_min >= 1 AND group_size_max >= group_size_min)",
            name="group_size",
        ),
    )

    code: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=200)
    level: str = Field(max_length=20)
    benefit_kind: str = Field(max_length=20)
    region_code: str | None = Field(default=None, max_length=13, index=True)
    group_size_min: int | None = None
    group_size_max: int | None = None
    active: bool = True
