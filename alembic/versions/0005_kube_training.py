"""kube groups, grants and training cohorts

KUBE groups with their member families, capital grants with their status history and business
reports; training cohorts with sessions, participants and attendance.

Reviewed by hand after autogenerate. Rules the database itself keeps:
- uq_kube_member_family_active: a family belongs to at most one active KUBE (kube_member
  .group_active mirrors the group's status), whatever the concurrency;
- uq_kube_member_group_officer: ketua, sekretaris and bendahara are single seats per group;
- uq_kube_grant_group_open: a group has at most one grant that is still running;
- kube_grant.allocation_id has no foreign key yet: budget_allocation is built in parallel and
  a later migration adds the key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('kube_group',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('village_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('program_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('business_category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('facilitator_id', sa.Uuid(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.CheckConstraint("status IN ('forming', 'active', 'inactive', 'dissolved')", name=op.f('ck_kube_group_status')),
    sa.ForeignKeyConstraint(['facilitator_id'], ['facilitator.id'], name=op.f('fk_kube_group_facilitator_id_facilitator')),
    sa.ForeignKeyConstraint(['program_code'], ['program.code'], name=op.f('fk_kube_group_program_code_program')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kube_group'))
    )
    op.create_index(op.f('ix_kube_group_facilitator_id'), 'kube_group', ['facilitator_id'], unique=False)
    op.create_index('ix_kube_group_name_trgm', 'kube_group', [sa.literal_column('lower(name)').label('lower_name')], unique=False, postgresql_using='gin', postgresql_ops={'lower_name': 'gin_trgm_ops'})
    op.create_index(op.f('ix_kube_group_status'), 'kube_group', ['status'], unique=False)
    op.create_index('ix_kube_group_updated_at_id', 'kube_group', ['updated_at', 'id'], unique=False)
    op.create_index('ix_kube_group_village_code', 'kube_group', ['village_code'], unique=False, postgresql_ops={'village_code': 'text_pattern_ops'})
    op.create_table('training_cohort',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('program_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('venue', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('facilitator_id', sa.Uuid(), nullable=True),
    sa.Column('trainer_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('completion_threshold', sa.Integer(), server_default='75', nullable=False),
    sa.CheckConstraint("status IN ('planned', 'running', 'completed', 'cancelled')", name=op.f('ck_training_cohort_status')),
    sa.CheckConstraint('capacity > 0', name=op.f('ck_training_cohort_capacity')),
    sa.CheckConstraint('completion_threshold BETWEEN 1 AND 100', name=op.f('ck_training_cohort_completion_threshold')),
    sa.ForeignKeyConstraint(['facilitator_id'], ['facilitator.id'], name=op.f('fk_training_cohort_facilitator_id_facilitator')),
    sa.ForeignKeyConstraint(['program_code'], ['program.code'], name=op.f('fk_training_cohort_program_code_program')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_cohort'))
    )
    op.create_index(op.f('ix_training_cohort_facilitator_id'), 'training_cohort', ['facilitator_id'], unique=False)
    op.create_index('ix_training_cohort_name_trgm', 'training_cohort', [sa.literal_column('lower(name)').label('lower_name')], unique=False, postgresql_using='gin', postgresql_ops={'lower_name': 'gin_trgm_ops'})
    op.create_index('ix_training_cohort_region_code', 'training_cohort', ['region_code'], unique=False, postgresql_ops={'region_code': 'text_pattern_ops'})
    op.create_index(op.f('ix_training_cohort_status'), 'training_cohort', ['status'], unique=False)
    op.create_index('ix_training_cohort_updated_at_id', 'training_cohort', ['updated_at', 'id'], unique=False)
    op.create_table('kube_grant',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=False),
    sa.Column('village_code', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    # No foreign key yet: budget_allocation comes with the budgets work (see the docstring).
    sa.Column('allocation_id', sa.Uuid(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_kube_grant_amount')),
    sa.ForeignKeyConstraint(['group_id'], ['kube_group.id'], name=op.f('fk_kube_grant_group_id_kube_group')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kube_grant'))
    )
    op.create_index(op.f('ix_kube_grant_allocation_id'), 'kube_grant', ['allocation_id'], unique=False)
    op.create_index(op.f('ix_kube_grant_group_id'), 'kube_grant', ['group_id'], unique=False)
    op.create_index(op.f('ix_kube_grant_status'), 'kube_grant', ['status'], unique=False)
    op.create_index('ix_kube_grant_updated_at_id', 'kube_grant', ['updated_at', 'id'], unique=False)
    op.create_index('ix_kube_grant_village_code', 'kube_grant', ['village_code'], unique=False, postgresql_ops={'village_code': 'text_pattern_ops'})
    op.create_index('uq_kube_grant_group_open', 'kube_grant', ['group_id'], unique=True, postgresql_where=sa.text("status IN ('proposed', 'recommended', 'approved', 'disbursed', 'reporting')"))
    op.create_table('kube_member',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('group_active', sa.Boolean(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('ketua', 'sekretaris', 'bendahara', 'anggota')", name=op.f('ck_kube_member_role')),
    sa.ForeignKeyConstraint(['family_id'], ['kpm_family.id'], name=op.f('fk_kube_member_family_id_kpm_family')),
    sa.ForeignKeyConstraint(['group_id'], ['kube_group.id'], name=op.f('fk_kube_member_group_id_kube_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kube_member'))
    )
    op.create_index(op.f('ix_kube_member_family_id'), 'kube_member', ['family_id'], unique=False)
    op.create_index('uq_kube_member_family_active', 'kube_member', ['family_id'], unique=True, postgresql_where=sa.text('group_active'))
    op.create_index('uq_kube_member_group_family', 'kube_member', ['group_id', 'family_id'], unique=True)
    op.create_index('uq_kube_member_group_officer', 'kube_member', ['group_id', 'role'], unique=True, postgresql_where=sa.text("role <> 'anggota'"))
    op.create_table('training_session',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('cohort_id', sa.Uuid(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.ForeignKeyConstraint(['cohort_id'], ['training_cohort.id'], name=op.f('fk_training_session_cohort_id_training_cohort'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_session'))
    )
    op.create_index('uq_training_session_cohort_day', 'training_session', ['cohort_id', 'held_on'], unique=True)
    op.create_table('kube_grant_report',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('grant_id', sa.Uuid(), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False),
    sa.Column('revenue', sa.BigInteger(), nullable=False),
    sa.Column('active_members', sa.Integer(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('recorded_by', sa.Uuid(), nullable=True),
    sa.CheckConstraint('active_members >= 0', name=op.f('ck_kube_grant_report_active_members')),
    sa.CheckConstraint('revenue >= 0', name=op.f('ck_kube_grant_report_revenue')),
    sa.ForeignKeyConstraint(['grant_id'], ['kube_grant.id'], name=op.f('fk_kube_grant_report_grant_id_kube_grant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kube_grant_report'))
    )
    op.create_index(op.f('ix_kube_grant_report_grant_id'), 'kube_grant_report', ['grant_id'], unique=False)
    op.create_table('kube_grant_transition',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('grant_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('by_client', sa.Uuid(), nullable=True),
    sa.Column('by_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['kube_grant.id'], name=op.f('fk_kube_grant_transition_grant_id_kube_grant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kube_grant_transition'))
    )
    op.create_index(op.f('ix_kube_grant_transition_grant_id'), 'kube_grant_transition', ['grant_id'], unique=False)
    op.create_table('training_participant',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('cohort_id', sa.Uuid(), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=True),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('needs', sa.Text(), nullable=True),
    sa.Column('business_potential', sa.Text(), nullable=True),
    sa.Column('assessment_notes', sa.Text(), nullable=True),
    sa.Column('started_business', sa.Boolean(), nullable=True),
    sa.Column('business_kind', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.ForeignKeyConstraint(['cohort_id'], ['training_cohort.id'], name=op.f('fk_training_participant_cohort_id_training_cohort')),
    sa.ForeignKeyConstraint(['family_id'], ['kpm_family.id'], name=op.f('fk_training_participant_family_id_kpm_family')),
    sa.ForeignKeyConstraint(['member_id'], ['kpm_member.id'], name=op.f('fk_training_participant_member_id_kpm_member'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_participant'))
    )
    op.create_index(op.f('ix_training_participant_cohort_id'), 'training_participant', ['cohort_id'], unique=False)
    op.create_index(op.f('ix_training_participant_family_id'), 'training_participant', ['family_id'], unique=False)
    op.create_index('uq_training_participant_cohort_member', 'training_participant', ['cohort_id', 'member_id'], unique=True)
    op.create_table('training_attendance',
    sa.Column('participant_id', sa.Uuid(), nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('present', sa.Boolean(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('recorded_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['participant_id'], ['training_participant.id'], name=op.f('fk_training_attendance_participant_id_training_participant'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['training_session.id'], name=op.f('fk_training_attendance_session_id_training_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('participant_id', 'session_id', name=op.f('pk_training_attendance'))
    )
    op.create_index(op.f('ix_training_attendance_session_id'), 'training_attendance', ['session_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_training_attendance_session_id'), table_name='training_attendance')
    op.drop_table('training_attendance')
    op.drop_index('uq_training_participant_cohort_member', table_name='training_participant')
    op.drop_index(op.f('ix_training_participant_family_id'), table_name='training_participant')
    op.drop_index(op.f('ix_training_participant_cohort_id'), table_name='training_participant')
    op.drop_table('training_participant')
    op.drop_index(op.f('ix_kube_grant_transition_grant_id'), table_name='kube_grant_transition')
    op.drop_table('kube_grant_transition')
    op.drop_index(op.f('ix_kube_grant_report_grant_id'), table_name='kube_grant_report')
    op.drop_table('kube_grant_report')
    op.drop_index('uq_training_session_cohort_day', table_name='training_session')
    op.drop_table('training_session')
    op.drop_index('uq_kube_member_group_officer', table_name='kube_member', postgresql_where=sa.text("role <> 'anggota'"))
    op.drop_index('uq_kube_member_group_family', table_name='kube_member')
    op.drop_index('uq_kube_member_family_active', table_name='kube_member', postgresql_where=sa.text('group_active'))
    op.drop_index(op.f('ix_kube_member_family_id'), table_name='kube_member')
    op.drop_table('kube_member')
    op.drop_index('uq_kube_grant_group_open', table_name='kube_grant', postgresql_where=sa.text("status IN ('proposed', 'recommended', 'approved', 'disbursed', 'reporting')"))
    op.drop_index('ix_kube_grant_village_code', table_name='kube_grant', postgresql_ops={'village_code': 'text_pattern_ops'})
    op.drop_index('ix_kube_grant_updated_at_id', table_name='kube_grant')
    op.drop_index(op.f('ix_kube_grant_status'), table_name='kube_grant')
    op.drop_index(op.f('ix_kube_grant_group_id'), table_name='kube_grant')
    op.drop_index(op.f('ix_kube_grant_allocation_id'), table_name='kube_grant')
    op.drop_table('kube_grant')
    op.drop_index('ix_training_cohort_updated_at_id', table_name='training_cohort')
    op.drop_index(op.f('ix_training_cohort_status'), table_name='training_cohort')
    op.drop_index('ix_training_cohort_region_code', table_name='training_cohort', postgresql_ops={'region_code': 'text_pattern_ops'})
    op.drop_index('ix_training_cohort_name_trgm', table_name='training_cohort', postgresql_using='gin', postgresql_ops={'lower_name': 'gin_trgm_ops'})
    op.drop_index(op.f('ix_training_cohort_facilitator_id'), table_name='training_cohort')
    op.drop_table('training_cohort')
    op.drop_index('ix_kube_group_village_code', table_name='kube_group', postgresql_ops={'village_code': 'text_pattern_ops'})
    op.drop_index('ix_kube_group_updated_at_id', table_name='kube_group')
    op.drop_index(op.f('ix_kube_group_status'), table_name='kube_group')
    op.drop_index('ix_kube_group_name_trgm', table_name='kube_group', postgresql_using='gin', postgresql_ops={'lower_name': 'gin_trgm_ops'})
    op.drop_index(op.f('ix_kube_group_facilitator_id'), table_name='kube_group')
    op.drop_table('kube_group')
