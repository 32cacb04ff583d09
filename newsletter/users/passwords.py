"""Staff passwords: the length rule, the argon2id hash, and a check that costs the same whether
or not the account exists.

Hashes are argon2id (RFC 9106) from argon2-cffi's :class:`~argon2.PasswordHasher`, whose
defaults are the RFC's second recommended profile (3 passes over 64 MiB, 4 lanes). A stored
hash carries its own parameters, so raising them later keeps old hashes working; a successful
check against older parameters returns a new hash to store (:func:`check`).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from newsletter.errors import FieldError

MIN_LENGTH = 10  # characters (NIST SP 800-63B asks for at least 8; a passphrase is better)
# argon2 takes any length, but a megabyte-long "password" is no password: refuse it early.
MAX_LENGTH = 1024

# Module-level so that tests can swap in a cheap profile (argon2.profiles.CHEAPEST).
hasher = PasswordHasher()


def check_policy(password: str) -> None:
    """:class:`FieldError` (``password``) when ``password`` is too short, too long, or only
    whitespace."""
    if not password.strip():
        raise FieldError("password", "it is empty", code="empty")
    if len(password) < MIN_LENGTH:
        raise FieldError(
            "password",
            f"too short: at least {MIN_LENGTH} characters, please (it has {len(password)})",
            code="short",
        )
    if len(password) > MAX_LENGTH:
        raise FieldError("password", f"too long: at most {MAX_LENGTH} characters", code="long")


def make_hash(password: str) -> str:
    """The argon2id hash to store for ``password`` (checked by :func:`check_policy` first)."""
    check_policy(password)
    return hasher.hash(password)


@dataclass(frozen=True)
class Checked:
    ok: bool
    rehash: str | None = None  # a new hash to store: the stored one used older parameters


def check(stored: str | None, password: str) -> Checked:
    """Whether ``password`` matches ``stored``. With no stored hash (an account for API tokens
    only, or none at all) the same work is done against a dummy hash, so a wrong email
    answers as slowly as a wrong password."""
    if stored is None or len(password) > MAX_LENGTH:
        _waste(password)
        return Checked(False)
    try:
        hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Checked(False)
    if hasher.check_needs_rehash(stored):
        return Checked(True, hasher.hash(password))
    return Checked(True)


@lru_cache(maxsize=4)
def _dummy(parameters: str) -> str:
    return hasher.hash("not the password of anyone " + parameters)


def _waste(password: str) -> None:
    """One verification's worth of work, against a hash made with the current parameters."""
    params = f"{hasher.time_cost}/{hasher.memory_cost}/{hasher.parallelism}/{hasher.hash_len}"
    with suppress(VerificationError):
        hasher.verify(_dummy(params), password[:MAX_LENGTH])
