"""weekly runs, one per week key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

The weekly job records each week it ran for under the week key (primary key), in the same
transaction that claims the run, so no week is built or sent twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "weekly_runs",
        sa.Column("week_key", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_weekly_runs_issue_id_issues"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("week_key", name=op.f("pk_weekly_runs")),
    )


def downgrade() -> None:
    op.drop_table("weekly_runs")
