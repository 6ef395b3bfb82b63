from __future__ import annotations

from sqlalchemy import Index, func, text
from sqlmodel import Field, SQLModel


class Region(SQLModel, table=True):
    """Reference data: the administrative tree, one row per province, regency, district, village.

    Codes are dotted, so "inside region R" is ``code = R OR code LIKE R || '.%'``; the
    ``text_pattern_ops`` index makes that prefix test an index range scan.
    """

    __tablename__ = "region"
    __table_args__ = (
        Index("ix_region_code_pattern", "code", postgresql_ops={"code": "text_pattern_ops"}),
        Index(
            "ix_region_name_trgm",
            func.lower(text("name")).label("lower_name"),
            postgresql_using="gin",
            postgresql_ops={"lower_name": "gin_trgm_ops"},
        ),
    )

    code: str = Field(primary_key=True, max_length=13)
    parent_code: str | None = Field(default=None, max_length=10, index=True)
    level: str = Field(max_length=10)
    name: str = Field(max_length=120)
