"""Signed VERP return paths: the envelope sender that names the message it bounced from.

With ``NEWSLETTER_BOUNCE_ADDRESS`` set to ``bounces@news.example.com``, an issue's message to
subscriber 42 of issue 7 is sent from ``bounces+7-42-{sig}@news.example.com`` and a sign-up's
confirmation from ``bounces+c-42-{sig}@...`` (VERP: the bounce comes back to that address
even when the remote MTA quotes nothing of the original). ``sig`` is 10 hex digits of an
HMAC-SHA256 under ``NEWSLETTER_SECRET_KEY``: without it anyone could mail a fake bounce to
``bounces+c-1@``, ``bounces+c-2@``... and suppress the whole list. A signed return path is
trusted on its own; the unsigned identifiers (our Message-ID, an unsigned VERP address) only
together with a recipient address that is the subscriber's (newsletter.feedback.bounces).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.tokens import load_secret

_ID = r"\d{1,9}"  # fits a 32-bit integer column: a longer number is not one of ours


@dataclass(frozen=True)
class Identified:
    """Which message a return path or Message-ID names; ``issue_id`` None: a confirmation."""

    issue_id: int | None
    subscriber_id: int
    signed: bool


class ReturnPath:
    def __init__(self, local: str, domain: str, key: bytes) -> None:
        self.local, self.domain, self._key = local, domain, key
        self._pattern = re.compile(
            rf"{re.escape(local)}\+(?:c|(?P<issue>{_ID}))-(?P<sub>{_ID})(?:-(?P<sig>[0-9a-f]{{10}}))?"
            rf"@{re.escape(domain)}",
            re.IGNORECASE,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ReturnPath | None:
        verp = settings.verp
        return cls(verp[0], verp[1], load_secret(settings)) if verp else None

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, f"verp:{text}".encode(), hashlib.sha256).hexdigest()[:10]

    def for_delivery(self, issue_id: int, subscriber_id: int) -> str:
        tag = f"{issue_id}-{subscriber_id}"
        return f"{self.local}+{tag}-{self._sign(tag)}@{self.domain}"

    def for_confirmation(self, subscriber_id: int) -> str:
        tag = f"c-{subscriber_id}"
        return f"{self.local}+{tag}-{self._sign(tag)}@{self.domain}"

    def identify(self, address: str) -> Identified | None:
        found = self._pattern.fullmatch(address.strip())
        if found is None:
            return None
        issue, sub, sig = found.group("issue"), found.group("sub"), found.group("sig")
        tag = f"{issue or 'c'}-{sub}"
        signed = sig is not None and hmac.compare_digest(sig.lower(), self._sign(tag))
        if sig is not None and not signed:
            return None  # a signature that does not verify: forged or altered
        return Identified(int(issue) if issue else None, int(sub), signed)
