"""Header fields that are safe on the wire whatever the data holds (RFC 5322, 2047, 6532).

Every value passes :func:`clean` first: CR, LF and other control characters become spaces, so a
name, subject or setting can never start a header of its own. Non-ASCII text becomes RFC 2047
encoded words of at most 75 characters, folded onto continuation lines; so does ASCII text that
looks like an encoded word (``=?``) or would make a line longer than 78 characters.
"""

from __future__ import annotations

import re
from email.errors import HeaderDefect
from email.header import Header
from email.headerregistry import Address

import idna

CRLF = "\r\n"
# A signed tag naming the delivery (newsletter.mail.verp.MessageTags): feedback-loop reports
# quote the original message, so a complaint can be tied to its delivery without trusting it.
TAG_HEADER = "X-Newsletter-Id"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def clean(value: str) -> str:
    """One line of text: control characters (CR and LF included) folded into single spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


def _encoded_words(value: str, name: str) -> str:
    # maxlinelen 75: Header counts a continuation line's leading space into the word,
    # and RFC 2047 2 caps an encoded word at 75 characters.
    return Header(value, "utf-8", header_name=name, maxlinelen=75).encode(linesep=CRLF)


def encode_header(name: str, value: str) -> str:
    """``Name: value``, folded, encoded where it must be."""
    value = clean(value)
    if value.isascii() and "=?" not in value and len(name) + 2 + len(value) <= 78:
        return f"{name}: {value}"
    return f"{name}: {_encoded_words(value, name)}"


def encode_phrase(value: str, name: str) -> str:
    """A display name or List-Id phrase: as is, quoted, or as encoded words."""
    value = clean(value)
    if not value.isascii() or "=?" in value:
        return _encoded_words(value, name)
    if _SPECIALS.search(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def ascii_domain(domain: str) -> str:
    """``bücher.de`` as ``xn--bcher-kva.de`` (IDNA 2008 with UTS 46 mapping); a domain that is
    ASCII already, or that IDNA refuses (left for the server to refuse), as it is."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain


def addr_spec(address: str) -> str:
    """``local@domain``, with the local part quoted when it holds specials (``"a,b"@x``).

    A non-ASCII local part stays UTF-8 (RFC 6532); sending it needs SMTPUTF8 (RFC 6531). With
    an ASCII local part an internationalized domain is written as its A-labels (IDNA 2008,
    RFC 5890), so the header stays ASCII and any server can carry it.
    """
    local, _, domain = clean(address).rpartition("@")
    if not local.isascii():
        return f"{local}@{domain}"
    domain = ascii_domain(domain)
    try:
        return Address(username=local, domain=domain).addr_spec
    except (ValueError, HeaderDefect):
        return '"' + local.replace("\\", "\\\\").replace('"', '\\"') + f'"@{domain}'


def recipient_address(display_name: str | None, address: str) -> Address:
    """The mailbox as an :class:`email.headerregistry.Address`, for messages built with the
    ``email`` package: one display name whatever it holds (the policy quotes or encodes it),
    the domain as in :func:`addr_spec`."""
    local, _, domain = clean(address).rpartition("@")
    if local.isascii():
        domain = ascii_domain(domain)
    # The email package writes a name that is already an RFC 2047 encoded word ("=?utf-8?q?
    # ...?=") as it is, and the reader decodes it: "<", "," and "@" inside would then become
    # addresses. Broken apart, it is plain text, quoted or encoded like any other name.
    name = clean(display_name or "").replace("=?", "= ?")
    return Address(display_name=name, username=local, domain=domain)


def encode_address(display_name: str | None, address: str, name: str = "To") -> str:
    """A mailbox, ``Name <local@domain>`` or ``local@domain``, for header ``name``."""
    spec = addr_spec(address)
    phrase = encode_phrase(display_name or "", name)
    return f"{phrase} <{spec}>" if phrase else spec
