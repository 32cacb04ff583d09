"""processed bounce and complaint reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

``newsletter bounces process`` records each report it has read by the SHA-256 of its bytes,
so a mailbox read twice (or an IMAP message seen again) is never counted twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bounce_reports",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name="fk_bounce_reports_issue_id_issues",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_bounce_reports_subscriber_id_subscribers",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("digest", name="pk_bounce_reports"),
    )


def downgrade() -> None:
    op.drop_table("bounce_reports")
