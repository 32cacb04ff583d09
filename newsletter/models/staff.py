"""Staff accounts (editors and operators) and their API tokens.

Passwords are stored only as an argon2 hash, tokens only as a SHA-256 of the token (a token is
32 random bytes: a fast hash is enough, and lets a request find its row by the hash).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.models.base import EMAIL_LENGTH, Base, UserRole, enum_type, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True)  # lower-cased
    role: Mapped[UserRole] = mapped_column(enum_type(UserRole, "user_role"))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: API tokens only
    # Bumped when the password changes or the account is disabled: older sessions end.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    hint: Mapped[str] = mapped_column(String(16))  # the token's first characters, to tell apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")
