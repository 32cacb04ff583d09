"""Header fields and body seams under hostile data: injection, folding, encoded words, QP."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from newsletter.compose.headers import addr_spec, clean, encode_address, encode_header
from newsletter.compose.message import EncodedPart, MessageTemplate, feedback_id, issue_template
from newsletter.compose.personalize import Placeholders, Recipient
from newsletter.compose.render import RenderedVariant
from newsletter.config import Settings
from newsletter.mail.verp import MessageTags, UnsubscribeAddress

NONCE = "0123abcd"
MARK = Placeholders(NONCE).marks


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def build(subject: str, name: str | None, address: str, text: str = "x") -> bytes:
    variant = RenderedVariant(0, subject, f"<p>{MARK['email']}</p>", text, NONCE)
    template = MessageTemplate.prepare(
        variant,
        from_address="Reviews <d@example.com>",
        list_id="Réviews Ünlimited <l.example.com>",
        feedback_id="f",
    )
    recipient = Recipient(
        "there",
        address,
        "",
        "https://n.example/u/t",
        "https://n.example/p/t",
        "https://n.example/v/t",
    )
    return template.build(
        recipient,
        to_name=name,
        message_id="<m@example.com>",
        date=datetime(2026, 11, 27, tzinfo=UTC),
        unsubscribe_mailto="u@example.com",
    )


def lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n")


def test_clean_folds_control_characters() -> None:
    assert clean("Hi\r\nBcc: evil@x.com\t\x00!") == "Hi Bcc: evil@x.com !"


@pytest.mark.parametrize(
    ("subject", "name"),
    [("Hi\r\nBcc: evil@x.com", None), ("ok", "Bob\r\nX-Evil: 1"), ("ok", "Zoë\r\nX-Evil: 1")],
)
def test_no_value_can_start_a_header_of_its_own(subject: str, name: str | None) -> None:
    message = parse(build(subject, name, "a@example.com"))
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert message.defects == []


@pytest.mark.parametrize(
    "subject",
    [
        "x" * 200,
        "=?utf-8?q?Hacked?= is literal text",
        "Ünïcödé " * 30,
        "A normal subject that is long enough to need folding across more than one line of mail",
    ],
)
def test_subjects_round_trip_and_fold(subject: str) -> None:
    raw = build(subject, None, "a@example.com")
    assert parse(raw)["Subject"] == " ".join(subject.split())
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in lines(head) if not line.startswith(b"List-Unsubscribe")) <= 78


@pytest.mark.parametrize(
    "name", ["Zoë Åberg " + "Ω" * 60, "🎬" * 200, 'Smith, Jo "JJ"', "=?utf-8?q?x?="]
)
def test_display_names_round_trip_within_line_limits(name: str) -> None:
    raw = build("s", name, "jo@example.com")
    to = parse(raw)["To"]
    assert to.addresses[0].addr_spec == "jo@example.com"
    # CPython's address parser puts a space between adjacent encoded words of a phrase, which
    # RFC 2047 6.2 says to drop; the classic decoder follows the RFC.
    field = raw.split(b"\r\nTo: ", 1)[1].split(b"\r\nDate:", 1)[0].decode()
    classic = str(make_header(decode_header(field.replace("\r\n", ""))))
    assert name in (to.addresses[0].display_name, classic.removesuffix(" <jo@example.com>"))
    assert max(len(line) for line in lines(raw)) <= 998
    encoded = encode_address(name, "jo@example.com")
    assert all(len(word) <= 75 for word in encoded.split() if word.startswith("=?"))


def test_addresses_with_specials_stay_one_address() -> None:
    assert addr_spec("a,b@example.com") == '"a,b"@example.com'
    to = parse(build("s", None, "a,b@example.com"))["To"]
    assert len(to.addresses) == 1
    assert to.addresses[0].username == "a,b"


def test_utf8_local_part_is_written_as_utf8() -> None:
    raw = build("s", "Élise", "élise@example.fr")
    assert b" <\xc3\xa9lise@example.fr>\r\n" in raw  # RFC 6532: raw UTF-8


def test_list_id_phrase_is_encoded() -> None:
    message = parse(build("s", None, "a@example.com"))
    assert message["List-Id"] == "Réviews Ünlimited <l.example.com>"
    assert encode_header("Subject", "plain") == "Subject: plain"


@pytest.mark.parametrize("length", range(68, 82))
@pytest.mark.parametrize("filler", ["a", "é", "=", "a é"])
def test_qp_seams_stay_within_76_octets_and_decode_exactly(length: int, filler: str) -> None:
    literal = (filler * length)[:length]
    template = f"{literal}{MARK['email']}{literal}\n{MARK['picks']}"
    part = EncodedPart.of(template, NONCE, escape=False)
    values = {"email": "reader@example.com" * 5, "picks": " for Film"}
    encoded = part.render(values)
    assert max(len(line) for line in encoded.split(b"\r\n")) <= 76
    import quopri

    decoded = quopri.decodestring(encoded).decode("utf-8").replace("\r\n", "\n")
    assert decoded == Placeholders(NONCE).substitute(template, values, escape=False)


# -- Feedback-ID and List-Unsubscribe of an issue (issue 15) -------------------------------------
def issue_message(settings: Settings, *, kind: str = "digest") -> EmailMessage:
    variant = RenderedVariant(0, "s", f"<p>{MARK['email']}</p>", "x", NONCE)
    recipient = Recipient("there", "ann@example.com", "", "https://n.example/u/t", "p", "v")
    mailbox = UnsubscribeAddress.from_settings(settings)
    raw = issue_template(variant, settings, "2026-W48", kind=kind).build(
        recipient,
        to_name=None,
        message_id="<m@example.com>",
        date=datetime(2026, 11, 27, tzinfo=UTC),
        unsubscribe_mailto=mailbox.for_delivery(7, 42),
    )
    return parse(raw)


def settings_for(domain: str) -> Settings:
    return Settings(secret_key="k", from_address=f"Reviews <digest@{domain}>")


@pytest.mark.parametrize(
    "domain",
    ["reviews.example.com", "a.io", "newsletter.reviews.a-very-long-subdomain.example.co.uk"],
)
def test_feedback_id_has_a_stable_sender_id_of_5_to_15_characters(domain: str) -> None:
    """Gmail's ``a:b:c:SenderId``: the week, the stream, and a SenderId Gmail reads (5-15
    characters), the same on every message of the domain."""
    settings = settings_for(domain)
    field = str(issue_message(settings)["Feedback-ID"])
    week, stream, sender_id = field.split(":")
    assert (week, stream) == ("2026-W48", "digest")
    assert re.fullmatch(r"[a-z0-9]{5,15}", sender_id), sender_id
    assert sender_id.startswith(re.sub(r"[^a-z0-9]", "", domain)[:5])  # readable
    assert str(issue_message(settings, kind="test")["Feedback-ID"]) == f"2026-W48:test:{sender_id}"
    assert str(issue_message(settings_for(domain))["Feedback-ID"]) == field  # stable
    other = str(issue_message(settings_for(f"x{domain}"))["Feedback-ID"]).split(":")[2]
    assert other != sender_id


def test_feedback_id_refuses_a_sender_id_gmail_would_not_read() -> None:
    assert feedback_id("2026-W48", "digest", "abcde") == "2026-W48:digest:abcde"
    for bad in ("abcd", "a" * 16, "ab:cde"):
        with pytest.raises(ValueError, match="5-15 characters"):
            feedback_id("2026-W48", "digest", bad)


def test_list_unsubscribe_has_the_one_click_url_first_then_the_readers_own_mailto() -> None:
    settings = settings_for("reviews.example.com")
    message = issue_message(settings)
    tag = MessageTags.from_settings(settings).for_delivery(7, 42)
    assert str(message["List-Unsubscribe"]) == (
        "<https://n.example/u/t>, "
        f"<mailto:unsubscribe+{tag}@reviews.example.com?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
