"""Per-recipient values substituted into an already rendered and inlined variant.

Templates emit placeholders such as ``__nl_unsubscribe_url__``: word characters only, so that
neither Jinja's autoescape nor premailer/lxml's URL escaping of ``href`` attributes changes
them. Substitution is one regex pass per part; values are HTML-escaped for the HTML part and
used as they are for the text part. Nothing is re-rendered or re-inlined per recipient.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

FIELDS = (
    "greeting_name",
    "email",
    "picks",
    "unsubscribe_url",
    "preferences_url",
    "view_online_url",
)
PLACEHOLDERS: dict[str, str] = {name: f"__nl_{name}__" for name in FIELDS}
_PATTERN = re.compile(r"__nl_([a-z_]+?)__")


@dataclass(frozen=True)
class Recipient:
    """What differs between two recipients of one variant."""

    greeting_name: str
    email: str
    picks: str  # " for Film, Anime", or "" for every section
    unsubscribe_url: str
    preferences_url: str
    view_online_url: str

    def values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FIELDS}


def split(template: str) -> list[str]:
    """``template`` as alternating literal text and placeholder names: even indexes are text,
    odd indexes are field names (``re.split`` with one capturing group)."""
    return _PATTERN.split(template)


def escaped(values: Mapping[str, str]) -> dict[str, str]:
    return {k: html.escape(v, quote=True) for k, v in values.items()}


def substitute(template: str, values: Mapping[str, str], *, escape: bool) -> str:
    """Replace every placeholder; an unknown placeholder is a bug and raises ``KeyError``."""
    if escape:
        values = escaped(values)
    return _PATTERN.sub(lambda m: values[m.group(1)], template)


def personalize(html_part: str, text_part: str, recipient: Recipient) -> tuple[str, str]:
    values = recipient.values()
    return substitute(html_part, values, escape=True), substitute(text_part, values, escape=False)
