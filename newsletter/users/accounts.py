"""Staff accounts and API tokens in the database: add or update, log in, disable, tokens.

Every function works inside the caller's session (the services open the transaction). An
email is stored as typed and found by its lower-cased form (``email_key``), so
``Ann@Example.com`` and ``ann@example.com`` are one account.

Tokens are ``nlt_`` and 43 URL-safe characters (32 random bytes). Only their SHA-256 is
stored, with the first characters as a hint to tell them apart: a token is as strong as a
key, so a fast hash is enough and lets a request find its row directly.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.errors import FieldError, InputError, NotFound
from newsletter.models import ApiToken, User, UserRole
from newsletter.users import passwords

TOKEN_PREFIX = "nlt_"  # noqa: S105 - a prefix, not a secret
TOKEN_BYTES = 32
HINT_LENGTH = len(TOKEN_PREFIX) + 6
EMAIL_MAX = 254  # RFC 5321's path limit, less the angle brackets


class BadLogin(InputError):
    """Wrong email or password, or a disabled account: one message for all, so a login form
    does not tell which addresses have accounts."""

    def __init__(self) -> None:
        super().__init__("wrong email or password")


class BadCredentials(InputError):
    """An API token that is unknown, revoked, or whose account is disabled."""

    def __init__(self) -> None:
        super().__init__("unknown or revoked token")


def email_field(raw: str) -> tuple[str, str]:
    """``(email as typed, its key)``; :class:`FieldError` (``email``) for a bad address."""
    text = raw.strip()
    if not text or len(text) > EMAIL_MAX:
        raise FieldError(
            "email", "an address of at most 254 characters, please", shown=repr(text[:80])
        )
    try:
        validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        reason = " ".join(str(exc).split()).rstrip(".")
        raise FieldError("email", reason, shown=repr(text[:80])) from None
    return text, text.lower()


def role_field(raw: str) -> UserRole:
    try:
        return UserRole(raw.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in UserRole)
        raise FieldError("role", f"one of {names}", shown=raw[:40]) from None


def find(session: Session, email: str) -> User | None:
    key = email.strip().lower()
    return session.scalars(select(User).where(User.email_key == key)).one_or_none()


def existing(session: Session, email: str) -> User:
    user = find(session, email)
    if user is None:
        raise NotFound(f"no staff account for {email.strip()[:80]}")
    return user


def add(
    session: Session,
    email: str,
    role: str,
    password: str | None,
    *,
    update: bool = False,
) -> User:
    """A new account, or with ``update`` a changed role and password (a new password, or a
    re-enabled account, ends every older session). Everything is checked before anything is
    written: a bad field leaves the database as it was. An email that already has an account
    without ``update``: :class:`FieldError` (``email``, code ``exists``)."""
    shown, key = email_field(email)
    kind = role_field(role)
    digest = passwords.make_hash(password) if password is not None else None
    user = find(session, key)
    if user is None:
        user = User(email=shown, email_key=key, role=kind, password_hash=digest, session_version=1)
        session.add(user)
        session.flush()
        return user
    if not update:
        raise FieldError("email", "already has an account", shown=repr(shown), code="exists")
    user.role = kind
    if digest is not None:
        user.password_hash = digest
        user.session_version += 1
    return user


def disable(session: Session, email: str, now: datetime) -> User:
    """No more logins, sessions or tokens for this account (kept for the record; its tokens
    are revoked, so enabling it again does not bring them back)."""
    user = existing(session, email)
    if user.disabled_at is None:
        user.disabled_at = now
        user.session_version += 1
        revoke_tokens(session, email, now)
    return user


def enable(session: Session, email: str) -> User:
    user = existing(session, email)
    user.disabled_at = None
    return user


def log_in(session: Session, email: str, password: str, now: datetime) -> User:
    """The account these credentials open; :class:`BadLogin` otherwise. The password check
    runs whatever the account's state (see :func:`passwords.check`)."""
    try:
        _, key = email_field(email)
    except FieldError:
        key = ""
    user = find(session, key) if key else None
    checked = passwords.check(user.password_hash if user else None, password)
    if user is None or not checked.ok or user.disabled_at is not None:
        raise BadLogin()
    if checked.rehash is not None:  # stored with older argon2 parameters
        user.password_hash = checked.rehash
    user.last_login_at = now
    return user


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(session: Session, email: str) -> tuple[User, str]:
    """A new API token for the account: the token itself is returned once, never stored."""
    user = existing(session, email)
    if user.disabled_at is not None:
        raise InputError(f"{user.email}: the account is disabled")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    session.add(ApiToken(user_id=user.id, token_hash=token_hash(token), hint=token[:HINT_LENGTH]))
    session.flush()
    return user, token


def revoke_tokens(session: Session, email: str, now: datetime) -> int:
    """Revoke every live token of the account; how many were live."""
    user = existing(session, email)
    live = [t for t in user.tokens if t.revoked_at is None]
    for token in live:
        token.revoked_at = now
    return len(live)


def by_token(session: Session, token: str, now: datetime) -> User:
    """The account a live token belongs to (its use is recorded); :class:`BadCredentials`."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100 or not token.isascii():
        raise BadCredentials()
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == token_hash(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.user.disabled_at is not None:
        raise BadCredentials()
    row.last_used_at = now
    return row.user
