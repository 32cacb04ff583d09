"""Per-recipient values substituted into an already rendered and inlined variant.

Templates emit placeholders such as ``__nl3f9a1c07_unsubscribe_url__``: word characters only, so
neither Jinja's autoescape nor premailer/lxml's URL escaping of ``href`` attributes changes
them. The hex part is a random nonce drawn for each rendering and stored with the variant, so
text from a review (a title containing ``__nl_email__``, say) can never pose as a placeholder.
Values are HTML-escaped for the HTML part and used as they are for the text part. Nothing is
re-rendered or re-inlined per recipient.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

FIELDS = (
    "greeting_name",
    "email",
    "picks",
    "unsubscribe_url",
    "preferences_url",
    "view_online_url",
    "click_token",
)


@dataclass(frozen=True)
class Placeholders:
    """The placeholder marks of one rendering."""

    nonce: str

    @classmethod
    def fresh(cls) -> Placeholders:
        return cls(secrets.token_hex(4))

    @cached_property
    def marks(self) -> dict[str, str]:
        """Field name -> the mark templates write for it."""
        return {name: f"__nl{self.nonce}_{name}__" for name in FIELDS}

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(rf"__nl{re.escape(self.nonce)}_({'|'.join(FIELDS)})__")

    def split(self, template: str) -> list[str]:
        """``template`` as alternating literal text (even indexes) and field names (odd)."""
        return self._pattern.split(template)

    def substitute(self, template: str, values: Mapping[str, str], *, escape: bool) -> str:
        if escape:
            values = escaped(values)
        return self._pattern.sub(lambda m: values[m.group(1)], template)


@dataclass(frozen=True)
class Recipient:
    """What differs between two recipients of one variant."""

    greeting_name: str
    email: str
    picks: str  # " for Film, Anime", or "" for every section
    unsubscribe_url: str
    preferences_url: str
    view_online_url: str
    # The recipient half of tracked links (compose.tracking): "" when nothing is tracked.
    click_token: str = ""

    def values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FIELDS}


def escaped(values: Mapping[str, str]) -> dict[str, str]:
    return {k: html.escape(v, quote=True) for k, v in values.items()}


def personalize(
    html_part: str, text_part: str, recipient: Recipient, nonce: str
) -> tuple[str, str]:
    """Both parts of a variant rendered with ``nonce``, filled in for ``recipient``."""
    marks, values = Placeholders(nonce), recipient.values()
    return (
        marks.substitute(html_part, values, escape=True),
        marks.substitute(text_part, values, escape=False),
    )
