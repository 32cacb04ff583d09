"""Golden files: the composed HTML and text of a fixed issue, byte for byte.

A change to the templates, the CSS or the inliner shows up here as a diff to read. When the
change is intended, regenerate with ``NEWSLETTER_UPDATE_GOLDEN=1 pytest tests/test_golden.py``,
look at the diff in git, and commit the new files with the change.
"""

from __future__ import annotations

import difflib
import os

import pytest

from newsletter.compose.personalize import personalize
from newsletter.compose.render import render_variant
from tests.helpers.content import BRAND, CONTENT, RECIPIENT
from tests.helpers.env import GOLDEN


def _check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("NEWSLETTER_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), f"golden/{name}", "composed", lineterm=""
        )
        pytest.fail("composed output differs from the golden file:\n" + "\n".join(list(diff)[:60]))


@pytest.mark.parametrize("mask", [0], ids=["every-section"])
def test_composed_issue_matches_the_golden_files(mask: int) -> None:
    variant = render_variant(CONTENT, mask, BRAND)
    html, text = personalize(variant.html, variant.text, RECIPIENT, variant.nonce)
    # One element per line so that a diff points at the element that changed.
    _check("issue.html", html.replace("><", ">\n<"))
    _check("issue.txt", text)
