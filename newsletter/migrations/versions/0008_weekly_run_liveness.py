"""weekly runs: a heartbeat, a recorded failure and the attempt count

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

A weekly run that raised is recorded as failed (``failed``, its reason in ``outcome``) and may be
run again at once; one whose process died without a word is known by its ``heartbeat_at``
falling behind, and is taken over. ``attempts`` paces the tick's automatic retries.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("weekly_runs") as table:
        table.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(
            sa.Column("failed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("weekly_runs") as table:
        table.drop_column("attempts")
        table.drop_column("failed")
        table.drop_column("heartbeat_at")
