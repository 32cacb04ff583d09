"""tracked links, first clicks and opens

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

Links in an issue go through ``/c/<link>/<recipient>``; the redirect target is the row in
``issue_links``, and the first click per (delivery, link) is one row of ``link_clicks``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issue_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name="fk_issue_links_issue_id_issues", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name="fk_issue_links_review_id_reviews",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_issue_links"),
        sa.UniqueConstraint("issue_id", "url", name="uq_issue_links_issue_id_url"),
    )
    op.create_table(
        "link_clicks",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_link_clicks_delivery_id_deliveries",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["issue_links.id"],
            name="fk_link_clicks_link_id_issue_links",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", "link_id", name="pk_link_clicks"),
    )
    op.create_index("ix_link_clicks_link_id", "link_clicks", ["link_id"])
    op.create_table(
        "delivery_opens",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name="fk_delivery_opens_delivery_id_deliveries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_delivery_opens"),
    )


def downgrade() -> None:
    op.drop_table("delivery_opens")
    op.drop_index("ix_link_clicks_link_id", table_name="link_clicks")
    op.drop_table("link_clicks")
    op.drop_table("issue_links")
