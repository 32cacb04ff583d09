"""when a subscriber was last asked to confirm

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

Double opt-in: a pending address that signs up again gets a new confirmation at most once an
hour, and a confirmation link is bound to the request it answers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("confirm_sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("confirm_sent_at")
