"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 01:20:15.610585
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Trigram indexes for name search. pg_trgm is a trusted extension (PostgreSQL 13+), so the
    # database owner may create it without superuser rights.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('api_client',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=True),
    sa.Column('scopes', postgresql.ARRAY(sa.String()), nullable=False),
    sa.Column('secret_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('secret_generation', sa.Integer(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_client'))
    )
    op.create_table('audit_entry',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('client_id', sa.Uuid(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('entity', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('record_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=True),
    sa.Column('changes', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    op.create_index(op.f('ix_audit_entry_client_id'), 'audit_entry', ['client_id'], unique=False)
    op.create_index('ix_audit_entry_record', 'audit_entry', ['entity', 'record_id'], unique=False)
    op.create_index('ix_audit_entry_region_code', 'audit_entry', ['region_code'], unique=False, postgresql_ops={'region_code': 'text_pattern_ops'})
    op.create_table('change_event',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('txid', sa.BigInteger(), server_default=sa.text('(pg_current_xact_id()::text)::bigint'), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('entity', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('record_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('changed_fields', postgresql.ARRAY(sa.String()), nullable=True),
    sa.Column('client_id', sa.Uuid(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_event'))
    )
    op.create_index('ix_change_event_region_code', 'change_event', ['region_code'], unique=False, postgresql_ops={'region_code': 'text_pattern_ops'})
    op.create_index('ix_change_event_txid_id', 'change_event', ['txid', 'id'], unique=False)
    op.create_table('program',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('benefit_kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=True),
    sa.Column('group_size_min', sa.Integer(), nullable=True),
    sa.Column('group_size_max', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('group_size_min IS NULL OR (group_size_min >= 1 AND group_size_max >= group_size_min)', name=op.f('ck_program_group_size')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_program')),
    sa.UniqueConstraint('code', name=op.f('uq_program_code'))
    )
    op.create_index(op.f('ix_program_region_code'), 'program', ['region_code'], unique=False)
    op.create_table('region',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('parent_code', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_region'))
    )
    op.create_index('ix_region_code_pattern', 'region', ['code'], unique=False, postgresql_ops={'code': 'text_pattern_ops'})
    op.create_index('ix_region_name_trgm', 'region', [sa.text('lower(name)')], unique=False, postgresql_using='gin', postgresql_ops={'lower(name)': 'gin_trgm_ops'})
    op.create_index(op.f('ix_region_parent_code'), 'region', ['parent_code'], unique=False)

    # The audit trail is append-only: not even the service's own role may rewrite history.
    op.execute(
        """
        CREATE FUNCTION audit_entry_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_entry is append-only' USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE OR TRUNCATE"
        " ON audit_entry FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_is_append_only()"
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_region_parent_code'), table_name='region')
    op.drop_index('ix_region_name_trgm', table_name='region', postgresql_using='gin')
    op.drop_index('ix_region_code_pattern', table_name='region', postgresql_ops={'code': 'text_pattern_ops'})
    op.drop_table('region')
    op.drop_index(op.f('ix_program_region_code'), table_name='program')
    op.drop_table('program')
    op.drop_index('ix_change_event_txid_id', table_name='change_event')
    op.drop_index('ix_change_event_region_code', table_name='change_event', postgresql_ops={'region_code': 'text_pattern_ops'})
    op.drop_table('change_event')
    op.drop_index('ix_audit_entry_region_code', table_name='audit_entry', postgresql_ops={'region_code': 'text_pattern_ops'})
    op.drop_index('ix_audit_entry_record', table_name='audit_entry')
    op.drop_index(op.f('ix_audit_entry_client_id'), table_name='audit_entry')
    op.drop_table('audit_entry')
    op.drop_table('api_client')
    op.execute("DROP FUNCTION audit_entry_is_append_only()")
