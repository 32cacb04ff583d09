"""an index over the delivery rows that carry an error, for the operator's view of a send

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

``issue status``, the API and the control room (once a second while it is open) show an
issue's latest distinct delivery errors. Without an index that look read the issue's rows
newest first until it had found 200 with an error: with few errors, every row, 160 ms at a
million (``bench/scale.py``). The index holds only rows with an error: a sent row has none, so
a send adds entries for its failures and deferrals alone, never for its bulk.

On PostgreSQL it is built CONCURRENTLY, outside the migration's transaction: a plain build
blocks writes to ``deliveries`` while it reads the whole table, and a send may be under way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WHERE = sa.text("last_error IS NOT NULL")


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_deliveries_errors",
            "deliveries",
            ["issue_id", "id"],
            unique=False,
            postgresql_where=WHERE,
            sqlite_where=WHERE,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_deliveries_errors", table_name="deliveries", postgresql_concurrently=True)
