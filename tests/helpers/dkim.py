"""What the DKIM tests share: the domain and selector, a digest as the sender builds it, and
the tags of a signature."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import dkim.util

from newsletter.compose.message import MessageTemplate
from newsletter.compose.render import render_variant
from newsletter.config import Settings
from tests.helpers.content import BRAND, CONTENT, RECIPIENT

DOMAIN = "reviews.example.com"  # the From domain of the settings fixture
SELECTOR = "news2026"


def digest(settings: Settings) -> bytes:
    """A digest as newsletter.delivery.sender builds it."""
    template = MessageTemplate.prepare(
        render_variant(CONTENT, 0, BRAND),
        from_address=settings.from_address,
        list_id=settings.list_id,
        feedback_id=f"2026-W48:digest:{settings.mail_domain}",
    )
    return template.build(
        RECIPIENT,
        to_name="Zoë Åberg",
        message_id=f"<nl.2026-W48.7.42@{settings.mail_domain}>",
        date=datetime(2026, 11, 27, 14, tzinfo=UTC),
        unsubscribe_mailto=settings.unsubscribe_mailto,
    )


def tags(signed: bytes) -> dict[bytes, bytes]:
    """The tags of the first DKIM-Signature field."""
    head = signed.split(b"\r\n\r\n", 1)[0]
    field = re.match(rb"DKIM-Signature:(.*?)\r\n(?=\S)", head, re.DOTALL)
    assert field is not None
    parsed: dict[bytes, bytes] = dkim.util.parse_tag_value(field.group(1))
    return parsed
