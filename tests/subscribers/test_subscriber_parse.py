"""Subscriber CSV parsing: encodings, delimiters, header names, row checks (pure)."""

from __future__ import annotations

import json

import pytest

from newsletter.errors import InputError
from newsletter.sections import SECTIONS
from newsletter.subscribers.parse import InvalidEmail, normalize_email, parse_subscribers
from tests.helpers.env import FIXTURES, SHARED_FIXTURES


@pytest.mark.parametrize(
    "raw", ["a@b", "a@@b.com", "@b.com", "a b@c.com", "a@b..com", "a@-.", "a@b_c.com", ""]
)
def test_invalid_emails(raw: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(raw)


def test_valid_emails_are_trimmed_and_lowercased() -> None:
    assert normalize_email("  Jo+News@Example.CO.uk ") == "jo+news@example.co.uk"


def test_latin1_semicolon_file_with_aliased_headers() -> None:
    parsed = parse_subscribers((FIXTURES / "subscribers/latin1.csv").read_bytes(), "latin1.csv")
    accepted = [(r.line, r.email, r.name, r.categories) for r in parsed.accepted]
    assert accepted == [
        (2, "ana@example.com", "Ana Lima", ["Film", "Anime"]),
        (5, "bo+news@example.org", None, ["Video Games", "Tabletop"]),
        (6, "bo@example.org", '=HYPERLINK("x")', []),
        (9, "élise@example.fr", "Élise", ["TV"]),
    ]
    assert [(r.line, r.reason) for r in parsed.rejected] == [
        (3, "invalid_email"),
        (4, "duplicate"),
        (7, "unknown_category"),
    ]


def test_a_file_without_an_email_column_fails_whole() -> None:
    with pytest.raises(InputError, match="no email column"):
        parse_subscribers(b"name,phone\nx,1\n", "people.csv")
    with pytest.raises(InputError, match="binary"):
        parse_subscribers(b"\x89PNG\x00\x00\x00", "logo.csv")


@pytest.mark.skipif(not SHARED_FIXTURES.is_dir(), reason=f"no corpus at {SHARED_FIXTURES}")
def test_conformance_subscribers() -> None:
    path = SHARED_FIXTURES / "subscribers/subscribers.csv"
    expected = json.loads(
        (SHARED_FIXTURES / "expected/subscribers/subscribers.csv.json").read_text(encoding="utf-8")
    )
    parsed = parse_subscribers(path.read_bytes(), str(path))
    got = [
        {"email": r.email, "name": r.name, "categories": r.categories or list(SECTIONS)}
        for r in parsed.accepted
    ]
    assert got == [
        {"email": a["email"], "name": a["name"], "categories": a["categories"]}
        for a in expected["accepted"]
    ]
    assert [(r.line, r.reason) for r in parsed.rejected] == [
        (r["line"], r["reason"]) for r in expected["rejected"]
    ]


def test_an_unknown_status_rejects_the_row() -> None:
    data = b"email,status\na@example.com,vip\nb@example.com,confirmed\na@example.com,pending\n"
    parsed = parse_subscribers(data, "s.csv")
    assert [(r.line, r.reason) for r in parsed.rejected] == [(2, "unknown_status")]
    assert [(r.email, r.status) for r in parsed.accepted] == [
        ("b@example.com", "confirmed"),
        ("a@example.com", "pending"),
    ]
