"""change feed: the record as of each change, and the region a record left

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

``payload`` is the record as a REST read shows it, unmasked; the feed masks it per reader.
``previous_region_code`` is set when a write moved the record to another region: readers of the
old region see the event as the record leaving (a tombstone), readers of the new one see it whole.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "change_event",
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "change_event",
        sa.Column("previous_region_code", sa.String(length=13), nullable=True),
    )
    op.create_index(
        "ix_change_event_previous_region_code",
        "change_event",
        ["previous_region_code"],
        postgresql_ops={"previous_region_code": "text_pattern_ops"},
        postgresql_where=sa.text("previous_region_code IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_change_event_previous_region_code", table_name="change_event")
    op.drop_column("change_event", "previous_region_code")
    op.drop_column("change_event", "payload")
