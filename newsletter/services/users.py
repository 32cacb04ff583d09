"""Staff services: accounts, logins, sessions and API tokens, for the command line, the admin
pages and the API.

Plain arguments in, :class:`UserInfo` out (never a database row). A failed login is
:class:`BadLogin` whatever the reason (unknown email, wrong password, disabled account), and
costs the same time; an unusable token is :class:`BadCredentials`. Both are
:class:`~newsletter.errors.InputError`. The rules live in :mod:`newsletter.users`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from newsletter.db import transaction
from newsletter.errors import FieldError
from newsletter.models import User
from newsletter.services.context import Context
from newsletter.tokens import derive_key
from newsletter.users import accounts
from newsletter.users.accounts import BadCredentials as BadCredentials
from newsletter.users.accounts import BadLogin as BadLogin
from newsletter.users.passwords import MIN_LENGTH as PASSWORD_MIN_LENGTH
from newsletter.users.passwords import check_policy as check_password

__all__ = [
    "PASSWORD_MIN_LENGTH",
    "BadCredentials",
    "BadLogin",
    "UserInfo",
    "UserRow",
    "add_user",
    "authenticate",
    "check_password",
    "disable_user",
    "enable_user",
    "find_user",
    "get_user",
    "list_users",
    "login_key",
    "new_token",
    "revoke_tokens",
    "user_for_token",
]


@dataclass(frozen=True)
class UserInfo:
    """Who is asking. ``session_version`` changes when the password changes or the account is
    disabled: a web session made under another version has ended."""

    id: int
    email: str
    role: str  # "editor" | "operator"
    session_version: int

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True)
class UserRow:
    """One account as ``users list`` shows it."""

    email: str
    role: str
    has_password: bool
    tokens: int  # live ones
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.email, user.role.value, user.session_version)


def add_user(
    ctx: Context, email: str, role: str, password: str | None, *, update: bool = False
) -> UserInfo:
    """A new account (``password`` None: API tokens only). With ``update``, an existing account
    gets this role and, when given, this password (ending its other sessions). Errors:
    :class:`~newsletter.errors.FieldError` naming ``email``, ``role`` or ``password``
    (``email`` with code ``exists`` when the account exists and ``update`` is off)."""
    try:
        with transaction(ctx.factory) as session:
            return _info(accounts.add(session, email, role, password, update=update))
    except IntegrityError:  # added by someone else at the same moment
        if update:
            return add_user(ctx, email, role, password, update=True)
        raise FieldError(
            "email", "already has an account", shown=repr(email.strip()), code="exists"
        ) from None


def find_user(ctx: Context, email: str) -> UserInfo | None:
    """The account of ``email`` (any letter case), disabled or not; None when there is none."""
    with ctx.factory() as session:
        user = accounts.find(session, email)
        return _info(user) if user is not None else None


def authenticate(ctx: Context, email: str, password: str) -> UserInfo:
    """The account these credentials open (its last login recorded); :class:`BadLogin`."""
    with transaction(ctx.factory) as session:
        return _info(accounts.log_in(session, email, password, ctx.clock()))


def get_user(ctx: Context, user_id: int) -> UserInfo | None:
    """The account with this id, or None when there is none or it is disabled."""
    with ctx.factory() as session:
        user = session.get(User, user_id)
        return _info(user) if user is not None and user.disabled_at is None else None


def disable_user(ctx: Context, email: str) -> UserInfo:
    """No more logins, sessions or tokens for this account (:class:`NotFound` if none)."""
    with transaction(ctx.factory) as session:
        return _info(accounts.disable(session, email, ctx.clock()))


def enable_user(ctx: Context, email: str) -> UserInfo:
    with transaction(ctx.factory) as session:
        return _info(accounts.enable(session, email))


def list_users(ctx: Context) -> list[UserRow]:
    with ctx.factory() as session:
        users = session.scalars(select(User).order_by(User.email_key)).all()
        return [
            UserRow(
                email=u.email,
                role=u.role.value,
                has_password=u.password_hash is not None,
                tokens=sum(1 for t in u.tokens if t.revoked_at is None),
                created_at=u.created_at,
                last_login_at=u.last_login_at,
                disabled_at=u.disabled_at,
            )
            for u in users
        ]


def new_token(ctx: Context, email: str) -> str:
    """A new API token for the account, returned once: only its SHA-256 is stored."""
    with transaction(ctx.factory) as session:
        return accounts.new_token(session, email)[1]


def revoke_tokens(ctx: Context, email: str) -> int:
    """Revoke every live token of the account; how many there were."""
    with transaction(ctx.factory) as session:
        return accounts.revoke_tokens(session, email, ctx.clock())


def user_for_token(ctx: Context, token: str) -> UserInfo:
    """The account a live API token belongs to; :class:`BadCredentials` otherwise."""
    with transaction(ctx.factory) as session:
        return _info(accounts.by_token(session, token, ctx.clock()))


def login_key(ctx: Context, email: str) -> str:
    """What login attempts for ``email`` are counted under by the rate limiter: an HMAC under
    a key derived from the secret, so the limiter's store (Redis) holds no address."""
    key = derive_key(ctx.secret, "newsletter login limit")
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()
