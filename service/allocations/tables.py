from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Index
from sqlmodel import Field

from service.records import RecordColumns

FUNDING_SOURCES = ("APBN", "APBD_PROVINSI", "APBD_KABKOTA", "LAINNYA")


class Allocation(RecordColumns, table=True):
    """A budget for one program, fiscal year and funding source in one region (a province or a
    regency). ``committed`` is the money in its disbursements that are not failed or reversed,
    ``confirmed`` the part the bank or post office has confirmed; both are kept by the
    disbursement writes in their own transactions, and the database refuses any write that
    would take ``committed`` above ``amount``. They are running sums, not fields an office
    edits, so they change without a new ``version``."""

    __tablename__ = "budget_allocation"
    __table_args__ = (
        # One allocation per program, year, source and region: a revision changes its amount.
        Index(
            "uq_budget_allocation_program_year_source_region",
            "program_code",
            "fiscal_year",
            "funding_source",
            "region_code",
            unique=True,
        ),
        Index(
            "ix_budget_allocation_region_code",
            "region_code",
            postgresql_ops={"region_code": "text_pattern_ops"},
        ),
        Index("ix_budget_allocation_updated_at_id", "updated_at", "id"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("committed >= 0 AND committed <= amount", name="committed_within_amount"),
        CheckConstraint(
            "confirmed >= 0 AND confirmed <= committed", name="confirmed_within_committed"
        ),
        CheckConstraint(
            "funding_source IN ('APBN', 'APBD_PROVINSI', 'APBD_KABKOTA', 'LAINNYA')",
            name="funding_source",
        ),
        CheckConstraint("fiscal_year BETWEEN 2000 AND 2100", name="fiscal_year"),
    )

    program_code: str = Field(max_length=20, foreign_key="program.code")
    fiscal_year: int
    funding_source: str = Field(max_length=20)
    region_code: str = Field(max_length=13)
    amount: int = Field(sa_type=BigInteger)
    committed: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    confirmed: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
