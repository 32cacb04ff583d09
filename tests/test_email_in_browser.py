"""The composed email in a real browser (Debian's Chromium): desktop, phone and dark mode.

premailer inlines every rule it can; the phone and dark-mode rules must survive it and still
beat the inlined styles, or phones get a 600px-wide email and dark mode gets white cards.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_compose import BRAND, CONTENT, RECIPIENT

from newsletter.compose.personalize import personalize
from newsletter.compose.render import render_variant

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Screenshots land here for a person to look at (git ignores the folder).
ARTIFACTS = Path(__file__).resolve().parents[1] / ".test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM} (scripts/test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


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


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_desktop_is_a_600px_column(browser: Any, email_file: Path) -> None:
    page = _open(browser, email_file, 900)
    _shot(page, "email-desktop.png")
    assert page.eval_on_selector(".container", "e => e.getBoundingClientRect().width") == 600
    assert page.eval_on_selector(".score-col", "e => getComputedStyle(e).display") == "table-cell"
    page.close()


def test_phone_layout_fits_and_stacks_the_score_card(browser: Any, email_file: Path) -> None:
    page = _open(browser, email_file, 375)
    _shot(page, "email-phone-375.png")
    assert page.eval_on_selector(".container", "e => e.getBoundingClientRect().width") <= 375
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    assert page.eval_on_selector(".score-col", "e => getComputedStyle(e).display") == "block"
    page.close()


def test_dark_mode_rules_beat_the_inlined_light_colours(browser: Any, email_file: Path) -> None:
    page = _open(browser, email_file, 900, scheme="dark")
    _shot(page, "email-dark.png")
    background = page.eval_on_selector(".container", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(27, 30, 33)"
    title = page.eval_on_selector(".card-title", "e => getComputedStyle(e).color")
    assert title == "rgb(241, 243, 245)"
    page.close()


def test_every_image_has_alt_text_and_every_link_is_https(browser: Any, email_file: Path) -> None:
    page = _open(browser, email_file, 600)
    alts = page.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('alt'))")
    hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    page.close()
    assert alts and all(alt and alt.strip() for alt in alts), alts
    assert hrefs and all(href.startswith("https://") for href in hrefs), hrefs
