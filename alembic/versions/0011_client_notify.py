"""api_client: NOTIFY when a client changes, so every process drops what it remembers of it

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

Each service process keeps the verified state of the clients it has seen (revoked? secret
generation? scopes? region?) instead of reading the row on every request
(``service.auth.client_states``). Any change of a client row (a revocation, a rotated secret,
withdrawn scopes, a new region, a deleted client) sends ``NOTIFY api_client`` with the client's
id, delivered at the commit of the very transaction that made the change, and the processes
forget that client. The trigger is on the table, so every writer (the command line, an
operator's SQL) is covered.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION notify_api_client() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('api_client', COALESCE(NEW.id, OLD.id)::text);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER api_client_notify AFTER UPDATE OR DELETE ON api_client
        FOR EACH ROW EXECUTE FUNCTION notify_api_client()
        """
    )
    # TRUNCATE has no rows to name: every process forgets every client.
    op.execute(
        """
        CREATE FUNCTION notify_api_clients_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('api_client', '*');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER api_client_truncate_notify AFTER TRUNCATE ON api_client
        FOR EACH STATEMENT EXECUTE FUNCTION notify_api_clients_truncated()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER api_client_truncate_notify ON api_client")
    op.execute("DROP FUNCTION notify_api_clients_truncated()")
    op.execute("DROP TRIGGER api_client_notify ON api_client")
    op.execute("DROP FUNCTION notify_api_client()")
