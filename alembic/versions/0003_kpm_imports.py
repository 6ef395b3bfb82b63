"""kpm imports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:46:58.076940
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('kpm_import_job',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.Uuid(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=True),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('bytes_total', sa.Integer(), nullable=False),
    sa.Column('bytes_read', sa.Integer(), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('families_read', sa.Integer(), nullable=False),
    sa.Column('families_created', sa.Integer(), nullable=False),
    sa.Column('families_updated', sa.Integer(), nullable=False),
    sa.Column('families_unchanged', sa.Integer(), nullable=False),
    sa.Column('families_refused', sa.Integer(), nullable=False),
    sa.Column('people_imported', sa.Integer(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpm_import_job'))
    )
    op.create_index(op.f('ix_kpm_import_job_status'), 'kpm_import_job', ['status'], unique=False)
    op.create_table('kpm_import_refusal',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('lines', postgresql.ARRAY(sa.Integer()), nullable=False),
    sa.Column('no_kk', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('nik', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['kpm_import_job.id'], name=op.f('fk_kpm_import_refusal_job_id_kpm_import_job'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpm_import_refusal'))
    )
    op.create_index('ix_kpm_import_refusal_job_line', 'kpm_import_refusal', ['job_id', 'line'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_kpm_import_refusal_job_line', table_name='kpm_import_refusal')
    op.drop_table('kpm_import_refusal')
    op.drop_index(op.f('ix_kpm_import_job_status'), table_name='kpm_import_job')
    op.drop_table('kpm_import_job')
