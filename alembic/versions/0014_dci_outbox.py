"""DCI messages through the webhook outbox, and DCI subscriptions

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

The outbox of 0010 carries the DCI door's messages too (``service.dci.deliveries``):

- ``webhook_subscription.kind``: ``webhook`` (a client's webhook subscription, as before),
  ``dci-notify`` (the channel of one DCI subscription) or ``dci-callback`` (a client's DCI
  callback address, one live channel per client and address); DCI channels have no Standard
  Webhooks ``secret`` (the service's DCI key signs them);
- ``webhook_delivery.body``: a prebuilt message (a callback) instead of a change event, cleared
  once the delivery is delivered or parked (it may hold unmasked personal data);
  ``dci_personal``: the body holds unmasked personal data (sent only while the client still
  holds ``pii:read``); ``dci_transaction_id``, the DCI transaction it answers (settled when it
  is delivered or parked, with ``dci_response``, what the journal keeps of the answer);
- the outbox trigger queues change events for webhook subscriptions and DCI subscriptions'
  channels, never for callback channels (whose rows do not count as subscriptions in its quick
  exit either);
- ``dci_subscription``: the subscriptions of ``registry/subscribe``;
- ``dci_sender``: the DCI sender ids a client may send as (none registered: any), whose
  changes notify the client's listeners as its keys' do (0012's ``notify_dci_sender_key``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_subscription",
        sa.Column(
            "kind",
            sqlmodel.sql.sqltypes.AutoString(length=20),
            server_default="webhook",
            nullable=False,
        ),
    )
    op.alter_column(
        "webhook_subscription",
        "secret",
        existing_type=sqlmodel.sql.sqltypes.AutoString(length=100),
        nullable=True,
    )
    op.create_index(
        "ux_webhook_subscription_dci_callback",
        "webhook_subscription",
        ["client_id", "url"],
        unique=True,
        postgresql_where=sa.text("kind = 'dci-callback' AND deleted_at IS NULL"),
    )
    op.alter_column("webhook_delivery", "event_id", existing_type=sa.BigInteger(), nullable=True)
    op.add_column(
        "webhook_delivery",
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "webhook_delivery",
        sa.Column("dci_response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "webhook_delivery",
        sa.Column("dci_personal", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("webhook_delivery", sa.Column("dci_transaction_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_webhook_delivery_dci_transaction_id_dci_transaction"),
        "webhook_delivery",
        "dci_transaction",
        ["dci_transaction_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_check_constraint(
        op.f("ck_webhook_delivery_event_or_body"),
        "webhook_delivery",
        "event_id IS NOT NULL OR body IS NOT NULL OR status <> 'pending'",
    )
    op.create_table(
        "dci_subscription",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False),
        sa.Column("transaction_id", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False),
        sa.Column("reference_id", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False),
        sa.Column("reg_type", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=True),
        sa.Column("reg_event_type", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False),
        sa.Column(
            "notify_record_type", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False
        ),
        sa.Column("filter_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("filter", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("notify_uri", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_client.id"],
            name=op.f("fk_dci_subscription_client_id_api_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["webhook_subscription.id"],
            name=op.f("fk_dci_subscription_channel_id_webhook_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_subscription")),
    )
    op.create_index(
        "ix_dci_subscription_client_id", "dci_subscription", ["client_id"], unique=False
    )
    op.create_table(
        "dci_sender",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_client.id"],
            name=op.f("fk_dci_sender_client_id_api_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_sender")),
        sa.UniqueConstraint("client_id", "sender_id", name=op.f("uq_dci_sender_client_id")),
    )
    op.execute(
        """
        CREATE TRIGGER dci_sender_notify AFTER INSERT OR UPDATE OR DELETE ON dci_sender
        FOR EACH ROW EXECUTE FUNCTION notify_dci_sender_key()
        """
    )
    op.execute(
        QUEUE_WEBHOOK_DELIVERIES.format(
            any_channel="AND kind <> 'dci-callback'", channels="AND s.kind <> 'dci-callback'"
        )
    )


# 0010's function, with one more condition on the channels (``{any_channel}`` in the quick
# exit, ``{channels}`` in the join).
QUEUE_WEBHOOK_DELIVERIES = """
CREATE OR REPLACE FUNCTION queue_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Most writes happen with no subscription at all: skip the join (and a bulk import's
    -- scan of its new rows) then.
    IF NOT EXISTS (SELECT 1 FROM webhook_subscription WHERE deleted_at IS NULL {any_channel}) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_delivery (subscription_id, event_id, txid, status)
    SELECT s.id, e.id, e.txid, 'pending'
      FROM new_events e
      JOIN webhook_subscription s
        ON s.deleted_at IS NULL {channels}
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
    op.execute(QUEUE_WEBHOOK_DELIVERIES.format(any_channel="", channels=""))
    op.execute("DROP TRIGGER IF EXISTS dci_sender_notify ON dci_sender")
    op.drop_table("dci_sender")
    op.drop_index("ix_dci_subscription_client_id", table_name="dci_subscription")
    op.drop_table("dci_subscription")
    # What only DCI channels had goes with them.
    op.execute("DELETE FROM webhook_delivery WHERE event_id IS NULL")
    op.execute("DELETE FROM webhook_subscription WHERE kind <> 'webhook'")
    op.drop_constraint(
        op.f("ck_webhook_delivery_event_or_body"), "webhook_delivery", type_="check"
    )
    op.drop_constraint(
        op.f("fk_webhook_delivery_dci_transaction_id_dci_transaction"),
        "webhook_delivery",
        type_="foreignkey",
    )
    op.drop_column("webhook_delivery", "dci_transaction_id")
    op.drop_column("webhook_delivery", "dci_personal")
    op.drop_column("webhook_delivery", "dci_response")
    op.drop_column("webhook_delivery", "body")
    op.alter_column("webhook_delivery", "event_id", existing_type=sa.BigInteger(), nullable=False)
    op.drop_index(
        "ux_webhook_subscription_dci_callback",
        table_name="webhook_subscription",
        postgresql_where=sa.text("kind = 'dci-callback' AND deleted_at IS NULL"),
    )
    op.alter_column(
        "webhook_subscription",
        "secret",
        existing_type=sqlmodel.sql.sqltypes.AutoString(length=100),
        nullable=False,
    )
    op.drop_column("webhook_subscription", "kind")
