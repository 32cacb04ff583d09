"""Composition: score colours, the rendered and inlined variant, personalization, message bytes."""

from __future__ import annotations

import email
import quopri
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage

import pytest

from newsletter.compose.colors import BANDS, band_for, contrast
from newsletter.compose.content import IssueContent, ReviewCard
from newsletter.compose.message import MessageTemplate, _qp_piece
from newsletter.compose.personalize import Placeholders, personalize
from newsletter.compose.render import render_variant, safe_url
from newsletter.sections import mask_of
from tests.helpers.content import BRAND, CONTENT, RECIPIENT, card


@pytest.mark.parametrize(("floor", "_bg", "_label"), BANDS)
def test_every_band_has_readable_text(floor: float, _bg: str, _label: str) -> None:
    band = band_for(floor)
    assert contrast(band.background, band.text) >= 4.5


def test_bands_follow_the_score() -> None:
    assert band_for(9.5).label == "great"
    assert band_for(5.0).label == "mixed"
    assert band_for(1.0).label == "poor"


def test_variant_has_cards_scores_and_tldrs_with_inlined_styles() -> None:
    html = render_variant(CONTENT, 0, BRAND).html
    assert html.startswith("<!DOCTYPE html>")
    for text in ("8.5/10", "4/5", "3/10", "TL;DR", "Short and sweet.", "New this week", "Trending"):
        assert text in html
    assert html.count('class="card"') == 4
    assert re.search(r'<td class="card" style="[^"]*padding', html)  # premailer inlined it
    assert re.search(r'class="score" style="[^"]*background-color: ?#', html)
    assert '<style data-premailer="ignore">' not in html  # the attribute is consumed...
    assert "@media only screen and (max-width: 480px)" in html  # ...the rules are kept
    assert "!important" in html  # and still win over inline styles (premailer issue 241)
    assert 'role="presentation"' in html and 'lang="en"' in html
    assert 'name="color-scheme"' in html and "prefers-color-scheme: dark" in html


def test_unscored_review_shows_tldr_without_score_card() -> None:
    html = render_variant(
        CONTENT.for_mask(mask_of(["Tabletop"])), mask_of(["Tabletop"]), BRAND
    ).html
    assert "Thing 3" in html and "TL;DR" in html
    assert 'class="score"' not in html
    assert "Thing 1" not in html  # Film is not in this variant


def test_variants_filter_by_category_and_write_their_own_subject() -> None:
    anime = render_variant(CONTENT, mask_of(["Anime", "TV"]), BRAND)
    assert "Thing 2" in anime.html
    assert "Thing 4" in anime.html
    assert "Thing 1" not in anime.html
    assert "Thing 1" not in anime.text
    assert anime.subject == "Thing 2 + 1 more"
    assert re.search(r'class="preheader"[^>]*>Short and sweet\.', anime.html)  # lead's TL;DR
    everything = render_variant(CONTENT, 0, BRAND)
    assert everything.subject == "Thing 1 + 3 more"


def test_an_editors_subject_applies_to_every_variant() -> None:
    edited = replace(CONTENT, subject="Our picks", preheader="Read these")
    assert render_variant(edited, mask_of(["Anime"]), BRAND).subject == "Our picks"


def test_markup_in_content_is_escaped_and_bad_urls_dropped() -> None:
    hostile = IssueContent(
        1,
        "2026-W48",
        "<script>x</script>",
        "pre",
        "intro <b>x</b>",
        date(2026, 11, 27),
        [card(1, "Film", title="<img src=x onerror=alert(1)>")],
    )
    bad = ReviewCard(
        2,
        "javascript:alert(1)",
        "Bad link",
        "Film",
        None,
        datetime(2026, 11, 25, tzinfo=UTC),
        None,
        None,
        None,
        None,
        None,
        "data:image/png;base64,xx",
    )
    content = IssueContent(1, "2026-W48", "s", "p", "i", date(2026, 11, 27), [hostile.new[0], bad])
    html = render_variant(content, 0, BRAND).html
    assert "<img src=x onerror" not in html and "&lt;img src=x onerror" in html
    assert "javascript:" not in html and "data:image" not in html
    assert safe_url("https://ok.example/") == "https://ok.example/"
    assert safe_url("//evil.example/") == "" and safe_url(" javascript:alert(1)") == ""
    assert safe_url("http://plain.example/a?b=1") == "https://plain.example/a?b=1"
    assert safe_url("HTTP://plain.example/") == "https://plain.example/"
    assert safe_url("ftp://files.example/x.jpg") == ""


def test_review_text_cannot_pose_as_a_placeholder() -> None:
    forged = replace(CONTENT, new=[card(1, "Film", title="Hi __nl_email__ and __nl_x_email__")])
    variant = render_variant(forged, 0, BRAND)
    html, text = personalize(variant.html, variant.text, RECIPIENT, variant.nonce)
    assert "Hi __nl_email__ and __nl_x_email__" in html
    assert "Hi __nl_email__ and __nl_x_email__" in text
    assert render_variant(forged, 0, BRAND).nonce != variant.nonce


def test_placeholders_survive_inlining_and_are_substituted_escaped() -> None:
    variant = render_variant(CONTENT, 0, BRAND)
    for field, placeholder in Placeholders(variant.nonce).marks.items():
        if field != "click_token":  # written by compose.tracking, after rendering
            assert placeholder in variant.html or placeholder in variant.text
    html, text = personalize(variant.html, variant.text, RECIPIENT, variant.nonce)
    assert "__nl" not in html
    assert "__nl" not in text
    assert "Hi Zoë &lt;b&gt;&quot;Z&quot;&lt;/b&gt;," in html
    assert 'href="https://news.example.org/u/tok?a=1&amp;b=2"' in html
    assert 'Hi Zoë <b>"Z"</b>,' in text  # the text part is not HTML
    assert "Unsubscribe: https://news.example.org/u/tok?a=1&b=2" in text


VARIANT = render_variant(CONTENT, 0, BRAND)


def _message(**overrides: object) -> bytes:
    variant = VARIANT
    template = MessageTemplate.prepare(
        variant,
        from_address="Reviews Weekly <digest@reviews.example.com>",
        list_id="Reviews Weekly <weekly.reviews.example.com>",
        feedback_id="2026-W48:digest:x",
    )
    kwargs: dict[str, object] = {
        "to_name": "Zoë Åberg",
        "message_id": "<nl.2026-W48.7.42@reviews.example.com>",
        "date": datetime(2026, 11, 27, 14, tzinfo=UTC),
        "unsubscribe_mailto": "unsubscribe@reviews.example.com",
    }
    kwargs.update(overrides)
    return template.build(RECIPIENT, **kwargs)  # type: ignore[arg-type]


def test_message_is_valid_multipart_alternative() -> None:
    raw = _message()
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert message.defects == [] and all(p.defects == [] for p in parts)
    assert message["Subject"] == "Thing 1 + 3 more"
    assert message["To"] == "Zoë Åberg <zoe@example.com>"
    assert message["Message-ID"] == "<nl.2026-W48.7.42@reviews.example.com>"
    assert message["List-Unsubscribe"] == (
        "<https://news.example.org/u/tok?a=1&b=2>, "
        "<mailto:unsubscribe@reviews.example.com?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Reviews Weekly <weekly.reviews.example.com>"
    assert message["Date"] == "Fri, 27 Nov 2026 14:00:00 +0000"
    html = parts[1].get_content()
    assert "8.5/10" in html and "Hi Zoë" in html


def test_message_bytes_are_wire_safe() -> None:
    raw = _message()
    assert raw.isascii()
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines)  # every line ends in CRLF
    assert max(len(line) for line in lines) <= 78


def test_message_is_deterministic_for_the_same_variant_and_inputs() -> None:
    assert _message() == _message()
    assert _message() != _message(message_id="<other@reviews.example.com>")


def test_pre_encoded_pieces_decode_to_exactly_the_personalized_parts() -> None:
    long_name = "Zoë " + "Ω" * 60 + ' & <"friends">'
    recipient = replace(
        RECIPIENT,
        greeting_name=long_name,
        unsubscribe_url="https://news.example.org/u/" + "x" * 120 + "?a=1&b=2",
    )
    variant = render_variant(CONTENT, 0, BRAND)
    template = MessageTemplate.prepare(
        variant, from_address="A <a@example.com>", list_id="L <l.example.com>", feedback_id="f"
    )
    raw = template.build(
        recipient,
        to_name=None,
        message_id="<m@x>",
        date=datetime(2026, 11, 27, tzinfo=UTC),
        unsubscribe_mailto="u@x",
    )
    assert max(len(line) for line in raw.split(b"\r\n")) <= 76 + 120  # header: the long URL
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text_part, html_part = message.iter_parts()
    want_html, want_text = personalize(variant.html, variant.text, recipient, variant.nonce)

    def norm(value: str) -> str:
        return value.replace("\r\n", "\n")

    assert norm(html_part.get_content()) == norm(want_html)
    assert norm(text_part.get_content()) == norm(want_text)


@pytest.mark.parametrize(
    "text",
    [
        ".starts with a dot",
        "a line\n.another\n..two dots\n.",
        "x" * 75 + ".y" + "z" * 200,  # a soft break lands right before the dot
        "." + "=" * 40,  # the escaped dot pushes a line of escapes past 76 octets
        "." * 200,
        "ok. no dot starts a line here",
    ],
)
def test_no_encoded_line_starts_with_a_dot(text: str) -> None:
    """A "." that starts a line is written "=2E", so SMTP never has to dot-stuff our
    messages, and every line stays within 76 octets."""
    encoded = _qp_piece(text)
    lines = encoded.split(b"\r\n")
    assert not any(line.startswith(b".") for line in lines)
    assert max(len(line) for line in lines) <= 76
    decoded = quopri.decodestring(encoded).decode("utf-8")
    assert decoded.replace("\r\n", "\n") == text


def test_a_real_digest_needs_no_dot_stuffing() -> None:
    raw = _message()
    assert not raw.startswith(b".") and b"\n." not in raw
