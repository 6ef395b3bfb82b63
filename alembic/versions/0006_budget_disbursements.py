"""budget allocations, disbursements, idempotency keys

Revision ID: 0006
Revises: 0005 (nothing here depends on that migration's tables)
Create Date: 2026-11-23

Money is BIGINT rupiah. The database itself keeps the budget invariant: an allocation's
committed sum never exceeds its amount (CHECK), and a recipient gets a program's benefit at most
once per period among payments that did not fail and were not reversed (partial unique index).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('idempotency_key',
    sa.Column('client_id', sa.Uuid(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('claim_token', sa.Uuid(), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('in_progress', 'done')", name=op.f('ck_idempotency_key_status')),
    sa.PrimaryKeyConstraint('client_id', 'key', name=op.f('pk_idempotency_key'))
    )
    op.create_index('ix_idempotency_key_expires_at', 'idempotency_key', ['expires_at'], unique=False)
    op.create_table('budget_allocation',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('program_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('funding_source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('committed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('confirmed', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint("funding_source IN ('APBN', 'APBD_PROVINSI', 'APBD_KABKOTA', 'LAINNYA')", name=op.f('ck_budget_allocation_funding_source')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_budget_allocation_amount')),
    sa.CheckConstraint('committed >= 0 AND committed <= amount', name=op.f('ck_budget_allocation_committed_within_amount')),
    sa.CheckConstraint('confirmed >= 0 AND confirmed <= committed', name=op.f('ck_budget_allocation_confirmed_within_committed')),
    sa.CheckConstraint('fiscal_year BETWEEN 2000 AND 2100', name=op.f('ck_budget_allocation_fiscal_year')),
    sa.ForeignKeyConstraint(['program_code'], ['program.code'], name=op.f('fk_budget_allocation_program_code_program')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_allocation'))
    )
    op.create_index('ix_budget_allocation_region_code', 'budget_allocation', ['region_code'], unique=False, postgresql_ops={'region_code': 'text_pattern_ops'})
    op.create_index('ix_budget_allocation_updated_at_id', 'budget_allocation', ['updated_at', 'id'], unique=False)
    op.create_index('uq_budget_allocation_program_year_source_region', 'budget_allocation', ['program_code', 'fiscal_year', 'funding_source', 'region_code'], unique=True)
    op.create_table('disbursement',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('allocation_id', sa.Uuid(), nullable=False),
    sa.Column('program_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('recipient_kind', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
    sa.Column('recipient_id', sa.Uuid(), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('external_reference', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.CheckConstraint("channel IN ('bank_transfer', 'pos', 'kks', 'cash')", name=op.f('ck_disbursement_channel')),
    sa.CheckConstraint("period ~ '^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$'", name=op.f('ck_disbursement_period')),
    sa.CheckConstraint("recipient_kind IN ('kpm', 'kube')", name=op.f('ck_disbursement_recipient_kind')),
    sa.CheckConstraint("status IN ('scheduled', 'sent', 'confirmed', 'failed', 'reversed')", name=op.f('ck_disbursement_status')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_disbursement_amount')),
    sa.ForeignKeyConstraint(['allocation_id'], ['budget_allocation.id'], name=op.f('fk_disbursement_allocation_id_budget_allocation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disbursement'))
    )
    op.create_index(op.f('ix_disbursement_allocation_id'), 'disbursement', ['allocation_id'], unique=False)
    op.create_index(op.f('ix_disbursement_recipient_id'), 'disbursement', ['recipient_id'], unique=False)
    op.create_index('ix_disbursement_region_code', 'disbursement', ['region_code'], unique=False, postgresql_ops={'region_code': 'text_pattern_ops'})
    op.create_index('ix_disbursement_updated_at_id', 'disbursement', ['updated_at', 'id'], unique=False)
    op.create_index('uq_disbursement_external_reference', 'disbursement', ['external_reference'], unique=True)
    op.create_index('uq_disbursement_once_per_period', 'disbursement', ['recipient_id', 'recipient_kind', 'program_code', 'period'], unique=True, postgresql_where=sa.text("period IS NOT NULL AND status NOT IN ('failed', 'reversed')"))
    op.create_table('disbursement_transition',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('disbursement_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('external_reference', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('on_date', sa.Date(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('by_client', sa.Uuid(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['disbursement_id'], ['disbursement.id'], name=op.f('fk_disbursement_transition_disbursement_id_disbursement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disbursement_transition'))
    )
    op.create_index(op.f('ix_disbursement_transition_disbursement_id'), 'disbursement_transition', ['disbursement_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_disbursement_transition_disbursement_id'), table_name='disbursement_transition')
    op.drop_table('disbursement_transition')
    op.drop_index('uq_disbursement_once_per_period', table_name='disbursement', postgresql_where=sa.text("period IS NOT NULL AND status NOT IN ('failed', 'reversed')"))
    op.drop_index('uq_disbursement_external_reference', table_name='disbursement')
    op.drop_index('ix_disbursement_updated_at_id', table_name='disbursement')
    op.drop_index('ix_disbursement_region_code', table_name='disbursement', postgresql_ops={'region_code': 'text_pattern_ops'})
    op.drop_index(op.f('ix_disbursement_recipient_id'), table_name='disbursement')
    op.drop_index(op.f('ix_disbursement_allocation_id'), table_name='disbursement')
    op.drop_table('disbursement')
    op.drop_index('uq_budget_allocation_program_year_source_region', table_name='budget_allocation')
    op.drop_index('ix_budget_allocation_updated_at_id', table_name='budget_allocation')
    op.drop_index('ix_budget_allocation_region_code', table_name='budget_allocation', postgresql_ops={'region_code': 'text_pattern_ops'})
    op.drop_table('budget_allocation')
    op.drop_index('ix_idempotency_key_expires_at', table_name='idempotency_key')
    op.drop_table('idempotency_key')
