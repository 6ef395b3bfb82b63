"""the DCI Social Registry door: sender keys and the message journal

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

``dci_sender_key``: the public keys (Ed25519 or ES256, as JWK) a client signs its DCI messages
with, registered by operators; a client with a key that is not revoked must sign.
``dci_transaction``: every DCI message received, one row each. The unique (client, sender,
message_id) is what detects a replayed message, whatever the concurrency; ``response`` keeps the
answer for ``txn/status``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dci_sender_key",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False),
        sa.Column("algorithm", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_client.id"],
            name=op.f("fk_dci_sender_key_client_id_api_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_sender_key")),
        sa.UniqueConstraint("client_id", "key_id", name=op.f("uq_dci_sender_key_client_id")),
    )
    op.create_table(
        "dci_transaction",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False),
        sa.Column("transaction_id", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("correlation_id", sqlmodel.sql.sqltypes.AutoString(length=99), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column(
            "reference_ids",
            postgresql.ARRAY(sa.String()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_client.id"],
            name=op.f("fk_dci_transaction_client_id_api_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_transaction")),
        sa.UniqueConstraint(
            "client_id", "sender_id", "message_id", name=op.f("uq_dci_transaction_client_id")
        ),
    )
    op.create_index(
        "ix_dci_transaction_client_id_transaction_id",
        "dci_transaction",
        ["client_id", "transaction_id"],
        unique=False,
    )
    op.create_index(
        "ix_dci_transaction_correlation_id", "dci_transaction", ["correlation_id"], unique=True
    )
    # A key added, revoked or removed is a change of its client: the processes that remember
    # the client's keys (with the client, ``service.auth.client_states``) forget them.
    op.execute(
        """
        CREATE FUNCTION notify_dci_sender_key() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('api_client', COALESCE(NEW.client_id, OLD.client_id)::text);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER dci_sender_key_notify AFTER INSERT OR UPDATE OR DELETE ON dci_sender_key
        FOR EACH ROW EXECUTE FUNCTION notify_dci_sender_key()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS dci_sender_key_notify ON dci_sender_key")
    op.execute("DROP FUNCTION IF EXISTS notify_dci_sender_key()")
    op.drop_index("ix_dci_transaction_correlation_id", table_name="dci_transaction")
    op.drop_index("ix_dci_transaction_client_id_transaction_id", table_name="dci_transaction")
    op.drop_table("dci_transaction")
    op.drop_table("dci_sender_key")
