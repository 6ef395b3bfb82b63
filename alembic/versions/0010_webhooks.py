"""webhook subscriptions and their outbox

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

The outbox is filled by the database: a statement-level trigger on ``change_event`` inserts one
``webhook_delivery`` per (new event, matching subscription) with one INSERT ... SELECT over the
statement's new rows, so every writer (single INSERTs and the bulk COPY alike) queues its
deliveries in its own transaction, and a rolled-back write leaves none.

Which events a subscription's client may see is the change feed's region rule
(``service.changes.feed.visible_changes``), stated for SQL once, in ``change_visible_in_region``;
tests/service/test_webhook_outbox_regions.py proves the two agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column(
            "event_types",
            postgresql.ARRAY(sa.String()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("previous_secret", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_client.id"],
            name=op.f("fk_webhook_subscription_client_id_api_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["change_event.id"],
            name=op.f("fk_webhook_delivery_event_id_change_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("fk_webhook_delivery_subscription_id_webhook_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
    )
    op.create_index("ix_webhook_delivery_event_id", "webhook_delivery", ["event_id"], unique=False)
    op.create_index(
        "ix_webhook_delivery_pending",
        "webhook_delivery",
        ["subscription_id", "txid", "event_id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_delivery_subscription_id_id",
        "webhook_delivery",
        ["subscription_id", "id"],
        unique=False,
    )
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "attempted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_delivery.id"],
            name=op.f("fk_webhook_attempt_delivery_id_webhook_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempt")),
    )
    op.create_index(
        "ix_webhook_attempt_delivery_id", "webhook_attempt", ["delivery_id"], unique=False
    )


    op.execute(CHANGE_VISIBLE_IN_REGION)
    op.execute(QUEUE_WEBHOOK_DELIVERIES)
    op.execute(
        """
        CREATE TRIGGER change_event_webhook_outbox AFTER INSERT ON change_event
        REFERENCING NEW TABLE AS new_events
        FOR EACH STATEMENT EXECUTE FUNCTION queue_webhook_deliveries()
        """
    )


# The feed's rule (``visible_changes``): a national reader (NULL region) sees every event; a
# reader bound to a region sees national events (NULL region), events of records inside its
# region, and events of records that moved out of it (``previous_region_code`` inside it).
# "Inside" is the code itself or any code below it (``service.access.within``).
CHANGE_VISIBLE_IN_REGION = """
CREATE FUNCTION change_visible_in_region(
    reader_region text, region_code text, previous_region_code text
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT reader_region IS NULL
        OR region_code IS NULL
        OR region_code = reader_region
        OR starts_with(region_code, reader_region || '.')
        OR coalesce(
               previous_region_code = reader_region
               OR starts_with(previous_region_code, reader_region || '.'),
               false)
$$
"""

# A subscription matches an event when it is not deleted (paused and failing ones still queue),
# its client is not revoked and may read the feed, the event's type is wanted (an empty list
# wants all), and the client may see the event where it happened.
QUEUE_WEBHOOK_DELIVERIES = """
CREATE FUNCTION queue_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Most writes happen with no subscription at all: skip the join (and a bulk import's
    -- scan of its new rows) then.
    IF NOT EXISTS (SELECT 1 FROM webhook_subscription WHERE deleted_at IS NULL) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_delivery (subscription_id, event_id, txid, status)
    SELECT s.id, e.id, e.txid, 'pending'
      FROM new_events e
      JOIN webhook_subscription s
        ON s.deleted_at IS NULL
       AND (cardinality(s.event_types) = 0 OR e.entity = ANY (s.event_types))
      JOIN api_client c
        ON c.id = s.client_id
       AND c.revoked_at IS NULL
       AND 'changes:read' = ANY (c.scopes)
     WHERE change_visible_in_region(c.region_code, e.region_code, e.previous_region_code);
    RETURN NULL;
END
$$
"""


def downgrade() -> None:
    op.execute("DROP TRIGGER change_event_webhook_outbox ON change_event")
    op.execute("DROP FUNCTION queue_webhook_deliveries()")
    op.execute("DROP FUNCTION change_visible_in_region(text, text, text)")
    op.drop_index("ix_webhook_attempt_delivery_id", table_name="webhook_attempt")
    op.drop_table("webhook_attempt")
    op.drop_index("ix_webhook_delivery_subscription_id_id", table_name="webhook_delivery")
    op.drop_index(
        "ix_webhook_delivery_pending",
        table_name="webhook_delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_webhook_delivery_event_id", table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_subscription")
