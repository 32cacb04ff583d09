"""Signed VERP return paths: the envelope sender that names the message it bounced from.

With ``NEWSLETTER_BOUNCE_ADDRESS`` set to ``bounces@news.example.com``, an issue's message to
subscriber 42 of issue 7 is sent from ``bounces+7-42-{sig}@news.example.com`` and a sign-up's
confirmation from ``bounces+c-42-{sig}@...`` (VERP: the bounce comes back to that address
even when the remote MTA quotes nothing of the original). ``sig`` is 10 hex digits of an
HMAC-SHA256 under ``NEWSLETTER_SECRET_KEY``: without it anyone could mail a fake bounce to
``bounces+c-1@``, ``bounces+c-2@``... and suppress the whole list. A signed return path is
trusted on its own; the unsigned identifiers (our Message-ID, an unsigned VERP address) only
together with a recipient address that is the subscriber's (newsletter.feedback.bounces).

The same signed tag travels inside every message too, as ``X-Newsletter-Id: 7-42-{sig}``
(:class:`MessageTags`): a provider's feedback loop (RFC 5965 ARF: Yahoo, Microsoft JMRP, most
ISPs) quotes the original message, headers and all, but reports to its own registered address,
not to the return path; and Microsoft blanks the recipient's address in what it quotes. The
header still names the delivery, and nobody without the key can write one.

And the same tag names the reader in the ``mailto:`` of ``List-Unsubscribe``
(:class:`UnsubscribeAddress`): ``unsubscribe+7-42-{sig}@news.example.com``, so a request by mail
says who asks without trusting its From (which anyone can write, and which a reader's other
address or a forwarding service changes), and nobody can unsubscribe another reader by
guessing: they would need the signature.

Each class signs with ``NEWSLETTER_SECRET_KEY`` and accepts a tag signed with it or with any of
``NEWSLETTER_SECRET_KEY_FALLBACKS`` (the keys of before a rotation), so bounces, complaints and
unsubscribe requests about mail sent before the key changed are still read as signed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.tokens import load_fallbacks, load_secret

_ID = r"\d{1,9}"  # fits a 32-bit integer column: a longer number is not one of ours


@dataclass(frozen=True)
class Identified:
    """Which message a return path or Message-ID names; ``issue_id`` None: a confirmation."""

    issue_id: int | None
    subscriber_id: int
    signed: bool


_NAMES = rf"(?:c|(?P<issue>{_ID}))-(?P<sub>{_ID})"  # "7-42" or "c-42": the tag before its sig
_SIG = r"(?P<sig>[0-9a-f]{10})"
_TAG = re.compile(rf"{_NAMES}-{_SIG}", re.IGNORECASE)


def _sign(key: bytes, tag: str) -> str:
    return hmac.new(key, f"verp:{tag}".encode(), hashlib.sha256).hexdigest()[:10]


class MessageTags:
    """Signed tags naming one message: ``{issue}-{subscriber}-{sig}`` for an issue's delivery,
    ``c-{subscriber}-{sig}`` for a sign-up's confirmation; the value of the
    ``X-Newsletter-Id`` header (newsletter.compose.headers.TAG_HEADER).

    ``sig`` is the VERP signature (same key, same input), so one tag can be read from either.
    """

    def __init__(self, key: bytes, fallbacks: Iterable[bytes] = ()) -> None:
        self._key = key
        self._keys = (key, *(k for k in fallbacks if k != key))  # what a signature may be of

    @classmethod
    def from_settings(cls, settings: Settings) -> MessageTags:
        return cls(load_secret(settings), load_fallbacks(settings))

    def sign(self, tag: str) -> str:
        return _sign(self._key, tag)

    def verifies(self, tag: str, sig: str) -> bool:
        """Whether ``sig`` signs ``tag`` under the current key or one of the fallbacks."""
        return any(hmac.compare_digest(sig.lower(), _sign(key, tag)) for key in self._keys)

    def for_delivery(self, issue_id: int, subscriber_id: int) -> str:
        tag = f"{issue_id}-{subscriber_id}"
        return f"{tag}-{self.sign(tag)}"

    def for_confirmation(self, subscriber_id: int) -> str:
        tag = f"c-{subscriber_id}"
        return f"{tag}-{self.sign(tag)}"

    def identify(self, value: str) -> Identified | None:
        """The message a tag names, only if its signature verifies (else None)."""
        found = _TAG.fullmatch(value.strip())
        return self.read(found) if found else None

    def read(self, found: re.Match[str]) -> Identified | None:
        """What a match of the tag grammar names: signed when its ``sig`` verifies, unsigned
        when it has none (a bare VERP address), None when a ``sig`` does not verify (forged or
        altered)."""
        issue, sub, sig = found.group("issue"), found.group("sub"), found.group("sig")
        if sig is not None and not self.verifies(f"{issue or 'c'}-{sub}", sig):
            return None
        return Identified(int(issue) if issue else None, int(sub), signed=sig is not None)


class ReturnPath:
    def __init__(
        self, local: str, domain: str, key: bytes, fallbacks: Iterable[bytes] = ()
    ) -> None:
        self.local, self.domain = local, domain
        self._tags = MessageTags(key, fallbacks)
        self._pattern = re.compile(
            rf"{re.escape(local)}\+{_NAMES}(?:-{_SIG})?@{re.escape(domain)}", re.IGNORECASE
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ReturnPath | None:
        verp = settings.verp
        if not verp:
            return None
        return cls(verp[0], verp[1], load_secret(settings), load_fallbacks(settings))

    def at(self, tag: str) -> str:
        """The return path carrying a signed tag (:class:`MessageTags`): a sender that puts
        the tag in the header too signs once."""
        return f"{self.local}+{tag}@{self.domain}"

    def for_delivery(self, issue_id: int, subscriber_id: int) -> str:
        return self.at(self._tags.for_delivery(issue_id, subscriber_id))

    def for_confirmation(self, subscriber_id: int) -> str:
        return self.at(self._tags.for_confirmation(subscriber_id))

    def identify(self, address: str) -> Identified | None:
        found = self._pattern.fullmatch(address.strip())
        return self._tags.read(found) if found else None


# "{issue}-{subscriber}-{sig}" at its longest (9 + 1 + 9 + 1 + 10): every tag fits in this
TAG_MAX = 30
LOCAL_PART_MAX = 64  # RFC 5321 4.5.3.1.1: longer local parts may be refused or truncated
NOBODY = 0  # subscriber ids start at 1: the reader a preview or a test copy names


@dataclass(frozen=True)
class Requested:
    """What an address of the unsubscribe mailbox names: ``tag`` None for the bare address;
    ``ids`` the delivery the tag signs (None when it does not verify, or is no delivery's)."""

    tag: str | None
    ids: Identified | None


class UnsubscribeAddress:
    """Each reader's own unsubscribe address, ``{local}+{tag}@{domain}`` (the ``mailto:`` of
    ``List-Unsubscribe``, RFC 2369), where ``{local}@{domain}`` is the unsubscribe mailbox
    (``settings.unsubscribe_mailto``) and ``tag`` a delivery's signed :class:`MessageTags`
    tag: the sender signs once for the header, the return path and this address.

    Previews and test copies name :data:`NOBODY`: a signed tag that unsubscribes no one.
    """

    def __init__(self, address: str, key: bytes, fallbacks: Iterable[bytes] = ()) -> None:
        local, _, domain = address.rpartition("@")
        if not local or not domain or "+" in local:
            raise ValueError(f"expected local@domain with no '+' in the local part: {address!r}")
        if len(local.encode()) + 1 + TAG_MAX > LOCAL_PART_MAX:
            longest = LOCAL_PART_MAX - 1 - TAG_MAX
            raise ValueError(
                f"a local part of {len(local.encode())} octets leaves no room for a reader's"
                f" '+{{tag}}': at most {longest}, so that the whole stays within"
                f" {LOCAL_PART_MAX} octets (RFC 5321 4.5.3.1.1)"
            )
        self.local, self.domain = local, domain
        self._tags = MessageTags(key, fallbacks)
        self._pattern = re.compile(
            rf"{re.escape(local)}(?:\+(?P<tag>[^@\s]{{1,{LOCAL_PART_MAX}}}))?@{re.escape(domain)}",
            re.IGNORECASE,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> UnsubscribeAddress:
        """:class:`ConfigError` when the address cannot carry a tag, or is the bounce address
        (a bounce to ``bounces+7-42-{sig}@`` would read as a request from reader 42)."""
        variable = "NEWSLETTER_UNSUBSCRIBE_ADDRESS"
        address = settings.unsubscribe_mailto
        if settings.bounce_address and address.lower() == settings.bounce_address.lower():
            raise ConfigError(variable, "must differ from NEWSLETTER_BOUNCE_ADDRESS")
        try:
            return cls(address, load_secret(settings), load_fallbacks(settings))
        except ValueError as exc:
            raise ConfigError(variable, str(exc)) from exc

    @property
    def bare(self) -> str:
        return f"{self.local}@{self.domain}"

    def at(self, tag: str) -> str:
        """The address carrying a tag already signed (:meth:`MessageTags.for_delivery`)."""
        return f"{self.local}+{tag}@{self.domain}"

    def for_delivery(self, issue_id: int, subscriber_id: int) -> str:
        return self.at(self._tags.for_delivery(issue_id, subscriber_id))

    def for_nobody(self, issue_id: int) -> str:
        """A preview's or a test copy's: it has the form of a reader's, and names nobody."""
        return self.for_delivery(issue_id, NOBODY)

    def read(self, address: str) -> Requested | None:
        """What ``address`` asks for, or None when it is not the unsubscribe mailbox's. Only
        an issue's delivery tag counts (a confirmation's ``c-`` tag is never handed out)."""
        found = self._pattern.fullmatch(address.strip())
        if found is None:
            return None
        tag = found.group("tag")
        if tag is None:
            return Requested(None, None)
        ids = self._tags.identify(tag)
        return Requested(tag, ids if ids is not None and ids.issue_id is not None else None)
