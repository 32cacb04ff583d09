"""A subscriber's name in a To: field is one display name, whatever it holds: in an issue
(compose.message) and in the confirmation mail (compose.confirmation). Parsed back, the
field names exactly one mailbox, the subscriber's."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.compose.confirmation import confirmation_message
from newsletter.compose.message import MessageTemplate
from newsletter.compose.personalize import Placeholders, Recipient
from newsletter.compose.render import RenderedVariant
from newsletter.config import Settings

HOSTILE = "Zoë <ceo@bank.example>, other@evil.example"
NONCE = "0123abcd"
SETTINGS = Settings(
    secret_key="k", base_url="https://n.example", from_address="Reviews <d@reviews.example>"
)


def issue_message(name: str | None, address: str) -> bytes:
    mark = Placeholders(NONCE).marks
    variant = RenderedVariant(0, "Issue", f"<p>{mark['email']}</p>", "text", NONCE)
    template = MessageTemplate.prepare(
        variant, from_address=SETTINGS.from_address, list_id="R <l.example>", feedback_id="f"
    )
    recipient = Recipient("there", address, "", "https://n/u", "https://n/p", "https://n/v")
    return template.build(
        recipient,
        to_name=name,
        message_id="<m@example>",
        date=datetime(2026, 11, 27, tzinfo=UTC),
        unsubscribe_mailto="u@example.com",
    )


def confirmation(name: str | None, address: str) -> bytes:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    return confirmation_message(SETTINGS, address, name, "https://n/confirm/t", now, 7)[1]


def recipients(raw: bytes) -> tuple[Address, ...]:
    # UTF-8 headers (RFC 6532) are read as text; a bytes parser would escape them
    message = email.message_from_string(raw.decode("utf-8"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert len(message.get_all("To") or []) == 1
    return tuple(message["To"].addresses)


def squeezed(text: str) -> str:
    # Python's parser keeps the folding space between two encoded words of a display name,
    # which RFC 2047 6.2 says to drop; compare names without whitespace
    return "".join(text.split())


BUILDERS = pytest.mark.parametrize("build", [issue_message, confirmation])


@BUILDERS
@pytest.mark.parametrize(
    "name",
    [
        HOSTILE,
        "Bob <ceo@bank.example>, other@evil.example",
        '"Eve" <e@evil.example>; x@evil.example \\',
        "=?utf-8?q?a=40b?= <x@evil.example>",
        # an encoded word that decodes to addresses (found in review: it replaced the To:)
        "=?utf-8?q?Zo=C3=AB_=3Cceo=40bank.example=3E=2C_other=40evil.example?=",
        "=?utf-8?q?Dr=2E_=3Cceo=40bank.example=3E?=",
        "Mallory\r\nBcc: all@evil.example",
    ],
)
def test_a_hostile_name_adds_no_recipient(build: object, name: str) -> None:
    assert callable(build)
    (only,) = recipients(build(name, "ann@example.com"))
    assert only.addr_spec == "ann@example.com"
    if "=?" not in name:  # Python decodes encoded words even inside quotes (RFC 2047 5: not)
        assert squeezed(only.display_name) == squeezed(" ".join(name.split()))


@BUILDERS
def test_an_idn_domain_is_written_as_a_labels_and_a_utf8_local_part_as_utf8(
    build: object,
) -> None:
    assert callable(build)
    raw = build(HOSTILE, "jo@bücher.de")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # any server can carry it, SMTPUTF8 or not
    (only,) = recipients(raw)
    assert only.addr_spec == "jo@xn--bcher-kva.de"
    (utf8,) = recipients(build(HOSTILE, "zoë@bücher.de"))
    assert utf8.addr_spec == "zoë@bücher.de"  # RFC 6532; needs SMTPUTF8 to be sent
    assert squeezed(utf8.display_name) == squeezed(HOSTILE)


@BUILDERS
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.one_of(
        st.text(max_size=120),
        # encoded words of arbitrary text, the shape Python writes out undecoded
        st.text(max_size=60).map(
            lambda t: "=?utf-8?q?" + "".join(f"={b:02X}" for b in t.encode()) + "?="
        ),
    )
)
def test_any_name_gives_exactly_one_recipient(build: object, name: str) -> None:
    assert callable(build)
    (only,) = recipients(build(name, "ann@example.com"))
    assert only.addr_spec == "ann@example.com"
