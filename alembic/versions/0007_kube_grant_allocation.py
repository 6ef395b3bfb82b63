"""a KUBE grant's allocation is a budget allocation

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

The KUBE and the budget tables were built side by side; now both exist, the grant's
``allocation_id`` refers to ``budget_allocation``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_foreign_key(
        op.f("fk_kube_grant_allocation_id_budget_allocation"),
        "kube_grant",
        "budget_allocation",
        ["allocation_id"],
        ["id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_kube_grant_allocation_id_budget_allocation"), "kube_grant", type_="foreignkey"
    )
