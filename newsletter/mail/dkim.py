"""DKIM signatures (RFC 6376) on outgoing messages, made with OpenSSL through ``cryptography``.

Contract: ``DkimSigner(domain, selector, private_key)`` (or ``.from_file``, ``.from_settings``:
``NEWSLETTER_DKIM_SELECTOR`` and ``NEWSLETTER_DKIM_PRIVATE_KEY``, a PEM file; d= is the From
domain) checks the key once, when it is built, and raises
:class:`~newsletter.errors.ConfigError` naming ``NEWSLETTER_DKIM_PRIVATE_KEY`` and the reason if
it is unreadable or unusable (:mod:`newsletter.mail.dkim_keys` says which keys are taken).
``sign(message)`` takes a whole CRLF message (as ``MessageTemplate.build`` and
``EmailMessage(policy=SMTP).as_bytes()`` make them) and returns it with a ``DKIM-Signature``
field prepended: rsa-sha256, relaxed/relaxed, no ``l=`` (RFC 6376 8.2: a body-length limit
lets anyone append content). With ``NEWSLETTER_DKIM_ED25519_SELECTOR`` and
``NEWSLETTER_DKIM_ED25519_PRIVATE_KEY`` set too, an ed25519-sha256 signature (RFC 8463) is
prepended above the RSA one: receivers that know Ed25519 check either, the others skip it
and check the RSA one (RFC 8463 recommends signing with both). ``txt_records()`` maps each
key's DNS name to the TXT value to publish there; ``dns_txt_record(key)`` gives one.

The field is the one dkimpy's ``DKIM.sign`` writes, byte for byte (same tags in the same
order, ``i=@domain``, ``q=dns/txt``, ``t=`` now, same folding), so its signatures are
interchangeable with dkimpy's and a test compares the two for equal input. Only the work is
different: canonicalization in C-speed ``bytes`` methods (:mod:`newsletter.mail.dkim_canon`)
and the key operation in OpenSSL: about 1 ms per 40 KB digest on the bench machine, 0.7 to 0.9
of it the RSA-2048 operation itself (what ``openssl speed rsa2048`` gives there), against
11.5 ms for dkimpy as shipped and 2.2 ms with its RSA on gmpy2 (``bench/dkim_sign.py``).
The body hash is computed once and shared by both signatures.

Signed fields: :data:`SIGNED` are all singletons in our mail, and each is "oversigned" (RFC 6376
8.15): named in ``h=`` once more than it occurs. A name with no matching field is hashed as empty
(5.4.2), so nobody can add a second From, Subject or List-Unsubscribe-Post (or a first
Reply-To, or a first List-Unsubscribe on the confirmation mail) without breaking the signature.
Feedback-ID is signed because Gmail's feedback loop only trusts it when it is (and so are the
unsubscribe fields, which Gmail and Yahoo require to be covered for one-click).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils

from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.mail.dkim_canon import (
    CRLF,
    Plan,
    apply_plan,
    fold_plan,
    relaxed_body,
    relaxed_value,
    split_message,
)
from newsletter.mail.dkim_keys import (
    ED25519_KEY_SETTING,
    KEY_SETTING,
    MIN_BITS,
    dns_txt_record,
    ed25519_private_key,
    generate_ed25519_key,
    generate_key,
    public_record,
    read_pem,
    rsa_private_key,
)

__all__ = [
    "ED25519_KEY_SETTING",
    "ED25519_SELECTOR_SETTING",
    "KEY_SETTING",
    "MIN_BITS",
    "SELECTOR_SETTING",
    "SIGNED",
    "DkimSigner",
    "dns_txt_record",
    "generate_ed25519_key",
    "generate_key",
]

SELECTOR_SETTING: Final = "NEWSLETTER_DKIM_SELECTOR"
ED25519_SELECTOR_SETTING: Final = "NEWSLETTER_DKIM_ED25519_SELECTOR"
SIGNED: Final = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
    "reply-to",
    "mime-version",
    "content-type",
)
_SIGNED: Final = tuple(name.encode() for name in SIGNED)
_FIELD: Final = b"DKIM-Signature"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")  # selector and d=: RFC 6376 3.1, 3.5


@dataclass(frozen=True)
class _Key:
    algorithm: bytes  # a= (RFC 6376 3.5, RFC 8463 3)
    selector: str
    bits: int
    sign: Callable[[bytes], bytes]  # the signature of the hashed header data (RFC 6376 3.7)
    record: str  # the TXT value publishing its public half


def _selector(selector: str, setting: str) -> str:
    if not _NAME.fullmatch(selector):
        raise ConfigError(setting, f"expected a DNS label, got {selector!r}")
    return selector


def _rsa(selector: str, pem: bytes) -> _Key:
    key = rsa_private_key(*read_pem(pem, KEY_SETTING))
    pad, prehashed = padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())

    def sign(data: bytes) -> bytes:  # RSASSA-PKCS1-v1_5 with SHA-256 (RFC 6376 3.3.1)
        return key.sign(hashlib.sha256(data).digest(), pad, prehashed)

    return _Key(b"rsa-sha256", selector, key.key_size, sign, public_record(key.public_key()))


def _ed25519(selector: str, pem: bytes) -> _Key:
    key = ed25519_private_key(*read_pem(pem, ED25519_KEY_SETTING))

    def sign(data: bytes) -> bytes:  # PureEdDSA of the SHA-256 of the data (RFC 8463 3)
        return key.sign(hashlib.sha256(data).digest())

    return _Key(b"ed25519-sha256", selector, 256, sign, public_record(key.public_key()))


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(setting, f"cannot read {path}: {exc.strerror}") from exc


class DkimSigner:
    """Signs messages for ``domain`` with the RSA key published under ``selector`` and, when
    ``ed25519_selector`` and ``ed25519_key`` are given, with that Ed25519 key as well."""

    def __init__(
        self,
        domain: str,
        selector: str,
        private_key: bytes,
        *,
        ed25519_selector: str | None = None,
        ed25519_key: bytes | None = None,
    ) -> None:
        if not _NAME.fullmatch(domain):
            raise ValueError(f"DKIM d= must be a domain name, got {domain!r}")
        self.domain, self.selector = domain.lower(), _selector(selector, SELECTOR_SETTING)
        rsa = _rsa(selector, private_key)
        self.bits: int = rsa.bits
        self._keys = [rsa]
        self._plans: dict[tuple[bytes, int], Plan] = {}
        if ed25519_selector is None and ed25519_key is None:
            return
        if ed25519_key is None:
            raise ConfigError(ED25519_KEY_SETTING, f"needed when {ED25519_SELECTOR_SETTING} is set")
        if ed25519_selector is None:
            raise ConfigError(ED25519_SELECTOR_SETTING, f"needed when {ED25519_KEY_SETTING} is set")
        _selector(ed25519_selector, ED25519_SELECTOR_SETTING)
        if ed25519_selector.lower() == selector.lower():
            raise ConfigError(
                ED25519_SELECTOR_SETTING,
                f"the same as {SELECTOR_SETTING} ({selector!r}); each key needs its own record",
            )
        # Topmost first: verifiers that take the first signature (dkimpy's verify()) check
        # Ed25519, the RSA one stays for those that do not know it (RFC 8463 3, 6).
        self._keys.insert(0, _ed25519(ed25519_selector, ed25519_key))

    @classmethod
    def from_file(
        cls,
        domain: str,
        selector: str,
        path: Path,
        *,
        ed25519_selector: str | None = None,
        ed25519_path: Path | None = None,
    ) -> DkimSigner:
        """A signer with the PEM key(s) in the files; errors name the setting and the file."""
        keys = [(path, KEY_SETTING)] + (
            [(ed25519_path, ED25519_KEY_SETTING)] if ed25519_path else []
        )
        pems = [_read(file, setting) for file, setting in keys]
        try:
            return cls(
                domain,
                selector,
                pems[0],
                ed25519_selector=ed25519_selector,
                ed25519_key=pems[1] if ed25519_path else None,
            )
        except ConfigError as exc:
            for file, setting in keys:
                if exc.variable == setting:
                    raise ConfigError(setting, f"{file}: {exc.reason}") from exc
            raise

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """The signer the settings ask for (d= is the From domain, for DMARC alignment), or
        None when no DKIM setting is set. The RSA selector and key are needed whenever any is
        set: the Ed25519 signature is an addition, never the only one (RFC 8463 6)."""
        selector, path = settings.dkim_selector, settings.dkim_private_key
        ed_selector, ed_path = settings.dkim_ed25519_selector, settings.dkim_ed25519_private_key
        if selector is None and path is None and ed_selector is None and ed_path is None:
            return None
        if ed_selector is not None and ed_path is None:
            raise ConfigError(ED25519_KEY_SETTING, f"needed when {ED25519_SELECTOR_SETTING} is set")
        if ed_path is not None and ed_selector is None:
            raise ConfigError(ED25519_SELECTOR_SETTING, f"needed when {ED25519_KEY_SETTING} is set")
        if selector is None:
            if path is not None:
                raise ConfigError(SELECTOR_SETTING, f"needed when {KEY_SETTING} is set")
            raise ConfigError(
                SELECTOR_SETTING,
                f"needed when {ED25519_SELECTOR_SETTING} is set: the RSA signature is always "
                "made, the Ed25519 one is an addition (RFC 8463 6)",
            )
        if path is None:
            raise ConfigError(KEY_SETTING, f"needed when {SELECTOR_SETTING} is set")
        return cls.from_file(
            settings.mail_domain,
            selector,
            path,
            ed25519_selector=ed_selector,
            ed25519_path=ed_path,
        )

    def txt_records(self) -> dict[str, str]:
        """DNS name (``{selector}._domainkey.{domain}``) -> TXT value, for each key signed with."""
        return {f"{key.selector}._domainkey.{self.domain}": key.record for key in self._keys}

    def sign(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """``message`` (CRLF line ends) with its DKIM-Signature field(s) prepended; ``t=`` is
        ``timestamp`` (seconds since the epoch), by default now."""
        if message.count(b"\n") != message.count(CRLF):
            raise ValueError("DKIM signing needs CRLF line ends throughout (RFC 5322 2.3)")
        fields, body = split_message(message)
        found: dict[bytes, list[bytes]] = {}
        for name, value in fields:
            lower = name.lower()
            if lower in _SIGNED:
                found.setdefault(lower, []).append(value)
        if b"from" not in found:
            raise ValueError("the message has no From field, which DKIM MUST sign (RFC 6376 5.4)")
        names: list[bytes] = []
        hashed: list[bytes] = []
        for name in _SIGNED:
            values = found.get(name, [])
            # Each name one time more than it occurs: oversigning, RFC 6376 8.15 and 5.4.2.
            names += [name] * (len(values) + 1)
            # Fields of one name are taken from the bottom up (RFC 6376 5.4.2).
            hashed += [name + b":" + relaxed_value(value) + CRLF for value in reversed(values)]
        tags = [
            (b"c", b"relaxed/relaxed"),  # RFC 6376 3.4.2 and 3.4.4
            (b"d", self.domain.encode()),
            (b"i", b"@" + self.domain.encode()),
            (b"q", b"dns/txt"),
            (b"s", b""),
            (b"t", str(int(time.time()) if timestamp is None else timestamp).encode()),
            (b"h", b" : ".join(names)),
        ]
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        header_data = b"".join(hashed)
        signed = [self._field(key, tags, body_hash, header_data) for key in self._keys]
        return b"".join(signed) + message

    def _field(
        self, key: _Key, tags: list[tuple[bytes, bytes]], body_hash: bytes, header_data: bytes
    ) -> bytes:
        """One DKIM-Signature field, laid out as dkimpy's ``DKIM.sign`` lays it out."""
        tags = [(b"v", b"1"), (b"a", key.algorithm)] + [
            (name, key.selector.encode() if name == b"s" else value) for name, value in tags
        ]
        head = b"; ".join(b"=".join(tag) for tag in tags) + b"; bh="
        listed = head + body_hash + b"; b="
        # Folded with a placeholder of 60 octets for b= (as dkimpy does, so that b= starts on
        # a line of its own and refolding with the signature moves nothing before it), then
        # the placeholder dropped: the field is hashed with an empty b= (RFC 6376 3.7).
        draft = self._fold(head, listed + b"0" * 60)
        draft = draft[: draft.rindex(b"b=") + 2]
        signature = key.sign(header_data + b"dkim-signature:" + relaxed_value(b" " + draft))
        return _FIELD + b": " + self._fold(head, listed + base64.b64encode(signature) + CRLF)

    def _fold(self, head: bytes, value: bytes) -> bytes:
        """``fold(value)``, the cuts reused: after ``head`` (the tags up to ``bh=``, the same
        for every message of a second and a variant) come only base64 letters of a fixed length
        and "; b=", so the cuts depend on ``head`` and the length alone."""
        shape = (head, len(value))
        plan = self._plans.get(shape)
        if plan is None:
            if len(self._plans) >= 64:  # t= moves on every second
                self._plans.clear()
            plan = self._plans[shape] = fold_plan(value, len(_FIELD))
        return apply_plan(value, plan)
