"""kpm registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:40:43.651185
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('facilitator',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('yearly_target', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_facilitator'))
    )
    op.create_index('ix_facilitator_region_code', 'facilitator', ['region_code'], unique=False, postgresql_ops={'region_code': 'text_pattern_ops'})
    op.create_table('kpm_family',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('no_kk', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('village_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('desil', sa.Integer(), nullable=True),
    sa.Column('dtsen_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('facilitator_id', sa.Uuid(), nullable=True),
    sa.Column('verification_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archive_reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.CheckConstraint('desil IS NULL OR desil BETWEEN 1 AND 10', name=op.f('ck_kpm_family_desil')),
    sa.ForeignKeyConstraint(['facilitator_id'], ['facilitator.id'], name=op.f('fk_kpm_family_facilitator_id_facilitator')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpm_family'))
    )
    op.create_index(op.f('ix_kpm_family_facilitator_id'), 'kpm_family', ['facilitator_id'], unique=False)
    op.create_index('ix_kpm_family_updated_at_id', 'kpm_family', ['updated_at', 'id'], unique=False)
    op.create_index(op.f('ix_kpm_family_verification_status'), 'kpm_family', ['verification_status'], unique=False)
    op.create_index('ix_kpm_family_village_code', 'kpm_family', ['village_code'], unique=False, postgresql_ops={'village_code': 'text_pattern_ops'})
    op.create_index('uq_kpm_family_no_kk_live', 'kpm_family', ['no_kk'], unique=True, postgresql_where=sa.text('archived_at IS NULL'))
    op.create_table('kpm_enrollment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('program_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('graduation_kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('credited_facilitator_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['credited_facilitator_id'], ['facilitator.id'], name=op.f('fk_kpm_enrollment_credited_facilitator_id_facilitator')),
    sa.ForeignKeyConstraint(['family_id'], ['kpm_family.id'], name=op.f('fk_kpm_enrollment_family_id_kpm_family')),
    sa.ForeignKeyConstraint(['program_code'], ['program.code'], name=op.f('fk_kpm_enrollment_program_code_program')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpm_enrollment'))
    )
    op.create_index(op.f('ix_kpm_enrollment_family_id'), 'kpm_enrollment', ['family_id'], unique=False)
    op.create_index(op.f('ix_kpm_enrollment_status'), 'kpm_enrollment', ['status'], unique=False)
    op.create_index('uq_kpm_enrollment_family_program', 'kpm_enrollment', ['family_id', 'program_code'], unique=True)
    op.create_table('kpm_member',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('nik', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('sex', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('relationship', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('nik_mismatch', sa.Boolean(), nullable=False),
    sa.Column('live', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint("sex IN ('L', 'P')", name=op.f('ck_kpm_member_sex')),
    sa.ForeignKeyConstraint(['family_id'], ['kpm_family.id'], name=op.f('fk_kpm_member_family_id_kpm_family'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpm_member'))
    )
    op.create_index(op.f('ix_kpm_member_family_id'), 'kpm_member', ['family_id'], unique=False)
    op.create_index('ix_kpm_member_name_trgm', 'kpm_member', [sa.text('lower(name)')], unique=False, postgresql_using='gin', postgresql_ops={'lower(name)': 'gin_trgm_ops'})
    op.create_index('uq_kpm_member_nik_live', 'kpm_member', ['nik'], unique=True, postgresql_where=sa.text('live'))
    op.create_table('kpm_verification',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('visited_on', sa.Date(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('facilitator_id', sa.Uuid(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('recorded_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['facilitator_id'], ['facilitator.id'], name=op.f('fk_kpm_verification_facilitator_id_facilitator')),
    sa.ForeignKeyConstraint(['family_id'], ['kpm_family.id'], name=op.f('fk_kpm_verification_family_id_kpm_family')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpm_verification'))
    )
    op.create_index(op.f('ix_kpm_verification_family_id'), 'kpm_verification', ['family_id'], unique=False)
    op.create_table('kpm_enrollment_transition',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('enrollment_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('by_client', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['enrollment_id'], ['kpm_enrollment.id'], name=op.f('fk_kpm_enrollment_transition_enrollment_id_kpm_enrollment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpm_enrollment_transition'))
    )
    op.create_index(op.f('ix_kpm_enrollment_transition_enrollment_id'), 'kpm_enrollment_transition', ['enrollment_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_kpm_enrollment_transition_enrollment_id'), table_name='kpm_enrollment_transition')
    op.drop_table('kpm_enrollment_transition')
    op.drop_index(op.f('ix_kpm_verification_family_id'), table_name='kpm_verification')
    op.drop_table('kpm_verification')
    op.drop_index('uq_kpm_member_nik_live', table_name='kpm_member', postgresql_where=sa.text('live'))
    op.drop_index('ix_kpm_member_name_trgm', table_name='kpm_member', postgresql_using='gin', postgresql_ops={'lower_name': 'gin_trgm_ops'})
    op.drop_index(op.f('ix_kpm_member_family_id'), table_name='kpm_member')
    op.drop_table('kpm_member')
    op.drop_index('uq_kpm_enrollment_family_program', table_name='kpm_enrollment')
    op.drop_index(op.f('ix_kpm_enrollment_status'), table_name='kpm_enrollment')
    op.drop_index(op.f('ix_kpm_enrollment_family_id'), table_name='kpm_enrollment')
    op.drop_table('kpm_enrollment')
    op.drop_index('uq_kpm_family_no_kk_live', table_name='kpm_family', postgresql_where=sa.text('archived_at IS NULL'))
    op.drop_index('ix_kpm_family_village_code', table_name='kpm_family', postgresql_ops={'village_code': 'text_pattern_ops'})
    op.drop_index(op.f('ix_kpm_family_verification_status'), table_name='kpm_family')
    op.drop_index('ix_kpm_family_updated_at_id', table_name='kpm_family')
    op.drop_index(op.f('ix_kpm_family_facilitator_id'), table_name='kpm_family')
    op.drop_table('kpm_family')
    op.drop_index('ix_facilitator_region_code', table_name='facilitator', postgresql_ops={'region_code': 'text_pattern_ops'})
    op.drop_table('facilitator')
