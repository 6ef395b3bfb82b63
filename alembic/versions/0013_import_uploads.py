"""kpm imports: the upload kept in the database, and the caller kept with the job

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

An import's file used to live on the disk of the process that received it, and the job ran in
that process only: when it died, the job stayed ``running`` for ever. The file is now stored
in ``kpm_import_chunk`` (pieces of about a megabyte, in order), so any process can claim the job
and resume it, and the job carries its caller (scopes, request id, operator or not), so the
process that resumes it acts exactly as the one that started it. A job from before this
revision left queued or running has no stored file: the first process to claim it marks it
failed (import the file again).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "kpm_import_job",
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
    )
    op.add_column(
        "kpm_import_job",
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    )
    op.add_column(
        "kpm_import_job",
        sa.Column("by_operator", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "kpm_import_chunk",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["kpm_import_job.id"],
            name=op.f("fk_kpm_import_chunk_job_id_kpm_import_job"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "position", name=op.f("pk_kpm_import_chunk")),
    )


def downgrade() -> None:
    op.drop_table("kpm_import_chunk")
    op.drop_column("kpm_import_job", "by_operator")
    op.drop_column("kpm_import_job", "request_id")
    op.drop_column("kpm_import_job", "scopes")
