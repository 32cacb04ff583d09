"""The checks' own logic on plain data: HTML and messages in, findings out; DKIM, SPF and
DMARC against a stub DNS (this machine has none that answers)."""

from __future__ import annotations

import pytest

from newsletter.mail.dkim import DkimSigner
from newsletter.mail.dkim_keys import generate_key
from newsletter.preflight.auth import dkim_findings, policy_findings
from newsletter.preflight.content import (
    alt_findings,
    https_findings,
    line_findings,
    size_findings,
    urls,
)
from newsletter.preflight.dns import stub
from newsletter.preflight.spam import parse

HTML = """<!DOCTYPE html><html><body>
<a href="https://site.example/a">A</a> <a href="http://site.example/b">B</a>
<a href="mailto:ed@site.example">mail</a> <a href="javascript:alert(1)">x</a>
<a href="https://news.example/u/tok">unsubscribe</a>
<img src="https://cdn.example/1.jpg" alt=""> <img src="http://cdn.example/2.jpg">
</body></html>"""

MESSAGE = (
    b"From: Reviews <news@reviews.example.com>\r\nTo: ana@example.com\r\n"
    b"Subject: Hello\r\nDate: Fri, 27 Nov 2026 15:00:00 +0000\r\n"
    b"Message-ID: <1@reviews.example.com>\r\n"
    b"List-Unsubscribe: <https://news.example/u/tok>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"Feedback-ID: 2026-W48:digest:abcdef012345\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n"
)


def test_content_checks_name_each_image_and_link() -> None:
    found = urls(HTML)
    assert found.images == ("https://cdn.example/1.jpg", "http://cdn.example/2.jpg")
    assert [f.message for f in alt_findings(HTML)] == [
        "an image has no alt text: http://cdn.example/2.jpg"
    ]  # alt="" is a decorative image's, and fine
    messages = [f.message for f in https_findings(found, "https://news.example/")]
    assert messages == [
        "a link is not https: http://site.example/b",
        "a link is not https: javascript:alert(1)",
        "an image is not https: http://cdn.example/2.jpg",
    ]


def test_size_and_line_limits() -> None:
    [fits] = size_findings(94_000, "all sections")
    assert fits.severity == "note" and fits.message == "all sections: the HTML is 94.0 KB of 95 KB"
    [over] = size_findings(96_500, "all sections")
    assert over.severity == "error" and "96.5 KB, over the 95 KB budget" in over.message
    assert line_findings(MESSAGE) == []
    [long] = line_findings(MESSAGE + b"x" * 999 + b"\r\n")
    assert "1 line of the message over 998 octets (first: line 13)" in long.message


SPAMASSASSIN = b"""From: a@b.example
X-Spam-Status: No, score=0.7 required=5.0 tests=HTML_FONT_LOW_CONTRAST,
\tHTML_MESSAGE autolearn=no version=4.0.1

Content analysis details:   (0.7 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
 0.0 HTML_MESSAGE           BODY: HTML included in message
 0.7 HTML_FONT_LOW_CONTRAST BODY: HTML font color similar or identical to
                            background

The original message was not completely plain text.
"""


def test_spamassassin_output_is_read_with_its_rules() -> None:
    verdict = parse(SPAMASSASSIN)
    assert verdict is not None and verdict.score == 0.7
    assert verdict.rules == (
        "0.0 HTML_MESSAGE  BODY: HTML included in message",
        "0.7 HTML_FONT_LOW_CONTRAST  BODY: HTML font color similar or identical to background",
    )
    assert parse(b"no headers here") is None


@pytest.fixture(scope="module")
def signer() -> DkimSigner:
    return DkimSigner("reviews.example.com", "news", generate_key())


DOMAIN = "reviews.example.com"
NAME = f"news._domainkey.{DOMAIN}"


def test_dkim_verifies_against_the_published_key(signer: DkimSigner) -> None:
    signed = signer.sign(MESSAGE)
    [ok] = dkim_findings(signed, signer.txt_records(), stub(signer.txt_records()), DOMAIN)
    assert ok.severity == "note" and ok.message.endswith("verifies against DNS")


def test_dkim_without_a_published_key_or_with_another_is_an_error(signer: DkimSigner) -> None:
    signed, records = signer.sign(MESSAGE), signer.txt_records()
    [missing] = dkim_findings(signed, records, stub({}), DOMAIN)
    assert missing.severity == "error" and missing.message == f"no DKIM key is published at {NAME}"
    assert missing.fix == f"publish this TXT record at {NAME}: {records[NAME]}"
    other = DkimSigner("reviews.example.com", "news", generate_key()).txt_records()
    [wrong] = dkim_findings(signed, records, stub(other), DOMAIN)
    assert wrong.severity == "error" and "not the key this sender signs with" in wrong.message


def test_without_dns_the_configured_key_is_used_and_said(signer: DkimSigner) -> None:
    [note] = dkim_findings(signer.sign(MESSAGE), signer.txt_records(), stub(None), DOMAIN)
    assert note.severity == "note"
    assert "verifies against the configured key; DNS not checked" in note.message


def test_unsigned_mail_is_a_warning() -> None:
    [warning] = dkim_findings(None, {}, stub({}), DOMAIN)
    assert warning.severity == "warning" and "dkim keygen" in warning.fix


def test_spf_and_dmarc_are_warnings_only() -> None:
    nothing = policy_findings("reviews.example.com", "reviews.example.com", stub({}))
    assert [(f.check, f.severity) for f in nothing] == [("spf", "warning"), ("dmarc", "warning")]
    published = stub(
        {
            "bounce.example.net": "v=spf1 ip4:192.0.2.1 -all",
            "_dmarc.example.com": "v=DMARC1; p=quarantine",
        }
    )
    found = policy_findings("reviews.example.com", "bounce.example.net", published)
    assert [(f.check, f.severity) for f in found] == [
        ("spf", "note"),
        ("spf", "warning"),  # bounce.example.net does not align with reviews.example.com
        ("dmarc", "note"),  # found at the organizational domain
    ]
    [offline] = policy_findings("reviews.example.com", "reviews.example.com", stub(None))
    assert offline.severity == "note" and offline.message.startswith("SPF and DMARC not checked")
