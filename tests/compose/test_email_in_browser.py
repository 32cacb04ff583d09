"""The composed email in a real browser (Debian's Chromium): desktop, phone and dark mode.

premailer inlines every rule it can; the phone and dark-mode rules must survive it and still
beat the inlined styles, or phones get a 600px-wide email and dark mode gets white cards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from newsletter.compose.personalize import personalize
from newsletter.compose.render import render_variant
from tests.helpers.browser import screenshot
from tests.helpers.content import BRAND, CONTENT, RECIPIENT


@pytest.fixture(scope="module")
def email_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    variant = render_variant(CONTENT, 0, BRAND)
    html, _ = personalize(variant.html, variant.text, RECIPIENT, variant.nonce)
    path = tmp_path_factory.mktemp("email") / "issue.html"
    path.write_text(html, encoding="utf-8")
    return path


def _open(browser: Any, path: Path, width: int, scheme: str = "light") -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    page.goto(path.as_uri())
    return page


def test_desktop_is_a_600px_column(browser: Any, email_file: Path) -> None:
    page = _open(browser, email_file, 900)
    screenshot(page, "email-desktop.png")
    assert page.eval_on_selector(".container", "e => e.getBoundingClientRect().width") == 600
    assert page.eval_on_selector(".score-col", "e => getComputedStyle(e).display") == "table-cell"
    page.close()


def test_phone_layout_fits_and_stacks_the_score_card(browser: Any, email_file: Path) -> None:
    page = _open(browser, email_file, 375)
    screenshot(page, "email-phone-375.png")
    assert page.eval_on_selector(".container", "e => e.getBoundingClientRect().width") <= 375
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    assert page.eval_on_selector(".score-col", "e => getComputedStyle(e).display") == "block"
    page.close()


def test_dark_mode_rules_beat_the_inlined_light_colours(browser: Any, email_file: Path) -> None:
    page = _open(browser, email_file, 900, scheme="dark")
    screenshot(page, "email-dark.png")
    background = page.eval_on_selector(".container", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(27, 30, 33)"
    title = page.eval_on_selector(".card-title", "e => getComputedStyle(e).color")
    assert title == "rgb(241, 243, 245)"
    page.close()


def test_every_image_has_alt_text_and_every_link_is_https(browser: Any, email_file: Path) -> None:
    """Every image carries an alt attribute; a card's image, whose link the review's title
    repeats just below, has an empty one and a link hidden from screen readers, so the
    headline is read once (and not shown twice where images are blocked)."""
    page = _open(browser, email_file, 600)
    alts = page.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('alt'))")
    cards = page.eval_on_selector_all(
        ".card-image",
        "els => els.map(e => [e.getAttribute('alt'), e.parentElement.getAttribute('aria-hidden')])",
    )
    titles = page.eval_on_selector_all(".card-title", "els => els.map(e => e.textContent)")
    headings = page.evaluate(
        "['h1', 'h2', 'h3'].map(h => [...document.querySelectorAll(h)].map(e => e.textContent"
        ".trim()))"
    )
    hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    page.close()
    assert alts and all(alt is not None for alt in alts), alts
    assert cards and all(card == ["", "true"] for card in cards), cards
    assert not set(alts) & set(titles)
    assert headings == [["Reviews Weekly"], ["New this week", "Trending"], titles]
    assert all(not t.upper().startswith("REVIEW") for t in titles), titles
    assert hrefs and all(href.startswith("https://") for href in hrefs), hrefs
