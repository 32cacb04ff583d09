"""Signed, purpose-bound, URL-safe tokens for subscriber links.

A token is ``<payload>.<signature>``: the payload is ``purpose:subject[:expiry]`` in base64url,
the signature the first 16 bytes of HMAC-SHA256 over it with ``NEWSLETTER_SECRET_KEY``. A token
made for one purpose (unsubscribe) never verifies for another (confirm). Verification uses a
constant-time comparison.

Rotating the key: ``NEWSLETTER_SECRET_KEY_FALLBACKS`` lists earlier keys (:func:`load_fallbacks`).
A :class:`Signer` signs with the current key only and accepts a signature made with any of
them, so the links in mail sent before a rotation keep working until their key is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from newsletter.config import Settings
from newsletter.errors import InputError

# "link" names a tracked link of an issue, "click" the recipient who follows it.
PURPOSES = frozenset({"confirm", "unsubscribe", "preferences", "click", "link", "view"})


class BadToken(InputError):
    """Forged, altered, expired or wrong-purpose token."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(settings: Settings) -> bytes:
    """``NEWSLETTER_SECRET_KEY``, or (embedded default only) a key kept in the data folder.

    Production must set the variable: every worker and web process needs the same key.
    """
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_dir) / "secret.key"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: of several processes starting at once exactly one writes the key and the
            # others read it; 0o600 from the start, never readable by others for a moment.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(secrets.token_urlsafe(32))
        key = path.read_bytes().strip()
        for _ in range(50):  # another process created it and is writing it
            if key:
                break
            time.sleep(0.01)
            key = path.read_bytes().strip()
        return key
    except OSError as exc:
        raise InputError(f"{path}: cannot keep the secret key: {exc.strerror}") from exc


def load_fallbacks(settings: Settings) -> tuple[bytes, ...]:
    """``NEWSLETTER_SECRET_KEY_FALLBACKS``: earlier keys whose signatures are still accepted
    (never used to sign). Every verifier takes them beside :func:`load_secret`'s key."""
    return tuple(key.encode() for key in settings.secret_key_fallbacks)


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key of its own for ``purpose``, derived from the secret key (HMAC-SHA256), so that no
    use of the key can stand in for another (link tokens, the form session, rate-limit keys)."""
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def _signature(key: bytes, payload: bytes) -> str:
    return _b64(hmac.new(key, payload, hashlib.sha256).digest()[:16])


class Signer:
    """Makes tokens with ``key``; verifies those of ``key`` and of each of ``fallbacks`` (the
    keys of before a rotation: :func:`load_fallbacks`)."""

    def __init__(self, key: bytes, fallbacks: Iterable[bytes] = ()) -> None:
        self._key = key
        self._keys = (key, *(k for k in fallbacks if k != key))

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        return cls(load_secret(settings), load_fallbacks(settings))

    def make(self, purpose: str, subject: str, expires: datetime | None = None) -> str:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        if ":" in subject:
            raise ValueError("a token subject cannot contain ':'")
        text = f"{purpose}:{subject}" + (f":{int(expires.timestamp())}" if expires else "")
        payload = text.encode()
        return f"{_b64(payload)}.{_signature(self._key, payload)}"

    def verify(self, token: str, purpose: str, now: datetime | None = None) -> str:
        """The subject of a valid token for ``purpose``; raises :class:`BadToken` otherwise."""
        try:
            if not token.isascii():  # compare_digest raises TypeError on non-ASCII text
                raise ValueError(token)
            encoded, signature = token.split(".", 1)
            payload = _unb64(encoded)
        except (ValueError, TypeError) as exc:
            raise BadToken("malformed link token") from exc
        if not any(hmac.compare_digest(_signature(k, payload), signature) for k in self._keys):
            raise BadToken("link token signature does not match")
        got_purpose, _, rest = payload.decode(errors="replace").partition(":")
        if got_purpose != purpose:
            raise BadToken(f"link token is for {got_purpose!r}, not {purpose!r}")
        subject, _, expiry = rest.partition(":")
        if expiry and now is not None and now.timestamp() > int(expiry):
            raise BadToken("link has expired")
        return subject
