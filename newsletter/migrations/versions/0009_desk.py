"""the editors' desk: a review window, staff accounts and API tokens, one live issue a week

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

``issues.week_key`` was unique; now only among issues that are not cancelled, so a cancelled
issue can be rebuilt as a new draft for its week. The issue records the weekly slot it is for
(``planned_at``), when the editors were told (``review_mailed_at``) and an editor's approval or
hold; an item, whether the size guard dropped it (``trimmed``). ``users`` are editors and
operators (argon2 password hashes); ``api_tokens`` their hashed Bearer tokens.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_LIVE = sa.text("status <> 'cancelled'")


def upgrade() -> None:
    with op.batch_alter_table("issues") as table:
        table.drop_constraint("uq_issues_week_key", type_="unique")
        for name in ("planned_at", "review_mailed_at", "approved_at", "held_at"):
            table.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("approved_by", sa.String(length=320), nullable=True))
        table.add_column(sa.Column("held_by", sa.String(length=320), nullable=True))
    with op.batch_alter_table("issue_items") as table:
        table.add_column(
            sa.Column("trimmed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index(
        "uq_issues_live_week_key",
        "issues",
        ["week_key"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "editor",
                "operator",
                name="user_role",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("session_version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email_key", name=op.f("uq_users_email_key")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_api_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_index("uq_issues_live_week_key", table_name="issues")
    with op.batch_alter_table("issue_items") as table:
        table.drop_column("trimmed")
    with op.batch_alter_table("issues") as table:
        for name in ("held_by", "approved_by", "held_at", "approved_at"):
            table.drop_column(name)
        table.drop_column("review_mailed_at")
        table.drop_column("planned_at")
        table.create_unique_constraint("uq_issues_week_key", ["week_key"])
