"""rate_limit_count: request rates counted in PostgreSQL, shared by every replica

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30

``DINSOS_RATE_LIMIT_STORAGE=postgresql`` counts the rates here (``service.rate_limit_counts``).
UNLOGGED: a count lives for its window (seconds to an hour) and nothing else depends on it, so
after a crash PostgreSQL empties the table and every caller simply starts a fresh window;
in exchange a count, written on every request, skips the write-ahead log (and replication).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_count",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("window_start", sa.Double(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Integer(), nullable=False),
        sa.Column("hits", postgresql.ARRAY(sa.Double()), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_count")),
        prefixes=["UNLOGGED"],
    )
    op.create_index("ix_rate_limit_count_expires_at", "rate_limit_count", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_count_expires_at", table_name="rate_limit_count")
    op.drop_table("rate_limit_count")
