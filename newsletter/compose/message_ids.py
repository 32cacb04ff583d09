"""Our Message-IDs (RFC 5322 3.6.4): how each kind of mail is named, and how to read the
names back from a bounce. One owner for the formats, so writing and matching never drift.

- an issue's message to a subscriber: ``<nl.{week}.{issue}.{subscriber}@{domain}>``,
  deterministic per (issue, subscriber): a resend after a crash carries the same id, so the
  receiving side can tell it is the same message;
- a test copy: ``<nl-test.{week}.{issue}.{random}@{domain}>``, never reused (it is not a
  delivery of the issue);
- a sign-up's confirmation: ``<confirm.{subscriber}.{random}@{domain}>``.
"""

from __future__ import annotations

import re
import secrets

_NUMBER = r"\d{1,9}"  # fits a 32-bit integer column: a longer number is not one of ours


def digest_id_parts(week_key: str, issue_id: int, domain: str) -> tuple[str, str]:
    """What goes before and after the subscriber id in an issue's Message-ID (fan-out builds
    the ids of all recipients in SQL from these)."""
    return f"<nl.{week_key}.{issue_id}.", f"@{domain}>"


def digest_id(week_key: str, issue_id: int, subscriber_id: int, domain: str) -> str:
    prefix, suffix = digest_id_parts(week_key, issue_id, domain)
    return f"{prefix}{subscriber_id}{suffix}"


def test_copy_id(week_key: str, issue_id: int, domain: str) -> str:
    return f"<nl-test.{week_key}.{issue_id}.{secrets.token_hex(6)}@{domain}>"


def confirmation_id(subscriber_id: int | None, domain: str) -> str:
    who = f"{subscriber_id}." if subscriber_id is not None else ""
    return f"<confirm.{who}{secrets.token_hex(12)}@{domain}>"


def id_patterns(domain: str) -> tuple[re.Pattern[str], ...]:
    """Patterns that read our ids back: groups ``issue`` (absent for a confirmation) and
    ``sub``. Test copies are not matched: they name no subscriber."""
    domain = re.escape(domain)
    return (
        re.compile(rf"<nl\.[^.<>@\s]+\.(?P<issue>{_NUMBER})\.(?P<sub>{_NUMBER})@{domain}>", re.I),
        re.compile(rf"<confirm\.(?P<sub>{_NUMBER})\.[0-9a-f]+@{domain}>", re.I),
    )
