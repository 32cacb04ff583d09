"""delivery indexes for a cheap claim and a cheap per-message outcome

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

Every outcome is one UPDATE of a delivery row that changes its state, an indexed column, so
PostgreSQL writes a new entry into every index of the table (no HOT update). Two indexes paid
that price per message for lookups that do not need them: ``claimed_by`` (a batch knows the ids
it claimed) and ``message_id`` (our Message-IDs are deterministic,
``<nl.{week}.{issue}.{subscriber}@domain>``, so a bounce is matched by parsing it and looking
up (issue_id, subscriber_id), which is unique). The queue index gains ``id`` as its last column
so that a claim of fresh rows (``state='queued' AND next_at IS NULL ORDER BY id LIMIT n``) reads
the first n entries in order instead of sorting every queued row of the issue per batch, and a
partial index over rows being sent finds expired leases without walking the rows already sent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deliveries_claimed_by", table_name="deliveries")
    op.drop_index("ix_deliveries_message_id", table_name="deliveries")
    op.drop_index("ix_deliveries_issue_id_state_next_at", table_name="deliveries")
    op.create_index(
        "ix_deliveries_queue", "deliveries", ["issue_id", "state", "next_at", "id"], unique=False
    )
    op.create_index(
        "ix_deliveries_lease",
        "deliveries",
        ["issue_id", "lease_until"],
        unique=False,
        postgresql_where=sa.text("state = 'sending'"),
        sqlite_where=sa.text("state = 'sending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_lease", table_name="deliveries")
    op.drop_index("ix_deliveries_queue", table_name="deliveries")
    op.create_index(
        "ix_deliveries_issue_id_state_next_at",
        "deliveries",
        ["issue_id", "state", "next_at"],
        unique=False,
    )
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"], unique=False)
    op.create_index("ix_deliveries_claimed_by", "deliveries", ["claimed_by"], unique=False)
