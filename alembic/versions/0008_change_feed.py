"""change feed: the pruning horizon, and a NOTIFY when change events are written

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Long-polling readers of the change feed wait for ``NOTIFY change_event``. A statement-level
trigger sends it, so every writer (single INSERTs and the bulk COPY alike) wakes them, at
commit, once per transaction (PostgreSQL folds identical notifications of one transaction).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_feed_horizon",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "pruned_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_feed_horizon")),
    )
    op.execute(
        """
        CREATE FUNCTION notify_change_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('change_event', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER change_event_notify AFTER INSERT ON change_event
        FOR EACH STATEMENT EXECUTE FUNCTION notify_change_event()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER change_event_notify ON change_event")
    op.execute("DROP FUNCTION notify_change_event()")
    op.drop_table("change_feed_horizon")
