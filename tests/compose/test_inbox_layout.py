"""The digest as inboxes show it, in a real browser (Debian's Chromium): the fixture issue and
the messages ``newsletter demo`` writes (the whole path: database, render, tracking, MIME).

- Clients that drop ``<style>`` (and its media query) still get a layout that fits a phone:
  the hybrid container is ``width:100%; max-width:600px`` inline.
- Every piece of visible text reaches WCAG AA (4.5:1) against the background it is actually
  drawn on, measured from computed colours, in dark mode and in light.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.compose.personalize import personalize
from newsletter.compose.render import render_variant
from tests.helpers.browser import screenshot
from tests.helpers.content import BRAND, CONTENT, RECIPIENT, demo_outbox, html_of

AA = 4.5
PHONE, DESKTOP, WIDE = 375, 600, 900

# For every element with text of its own that is drawn (not display:none, not zero-sized, not
# transparent): its colour, the first opaque background-color up its ancestors (the canvas
# when none), and their contrast ratio by WCAG 2.x relative luminance.
CONTRASTS = """(canvas) => {
  const rgba = (s) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(s);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const channel = (v) => {
    v /= 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const lum = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return rgba(canvas);
  };
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent).join('').replace(/[\\s\\u034f\\u200c\\u00a0]+/g, ' ').trim();
    if (!own) continue;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility === 'hidden' || Number(style.opacity) === 0) continue;
    if (box.width === 0 || box.height === 0) continue;
    const fg = rgba(style.color), bg = background(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    found.push({
      element: el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''),
      text: own.slice(0, 40), color: style.color, background: `rgb(${bg.r}, ${bg.g}, ${bg.b})`,
      ratio: Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100,
    });
  }
  return found;
}"""


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain-colour PNG (a stand-in for the reviews' images, so that their boxes show)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(row * height)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


IMAGE = _png(1072, 600, (120, 140, 160))  # 2x the 536px column, as a review site serves


@pytest.fixture(scope="module")
def emails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> HTML file: the fixture issue, and the demo's fullest and leanest messages."""
    folder = tmp_path_factory.mktemp("inbox")
    variant = render_variant(CONTENT, 0, BRAND)
    html, _ = personalize(variant.html, variant.text, RECIPIENT, variant.nonce)
    files = {"fixture": html}
    outbox = demo_outbox(folder / "demo")
    files["demo-full"], files["demo-lean"] = html_of(outbox[0]), html_of(outbox[-1])
    paths = {}
    for name, text in files.items():
        paths[name] = folder / f"{name}.html"
        paths[name].write_text(text, encoding="utf-8")
    return paths


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """open_page(path, width, scheme): a page on the file; every image answers with the same
    1072x600 PNG, and nothing else is fetched from the network."""
    pages: list[Any] = []

    def opened(path: Path, width: int, scheme: str = "light") -> Any:
        page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
        pages.append(page)
        page.route("**/*", _serve)
        page.goto(path.as_uri())
        return page

    yield opened
    for page in pages:
        page.close()


def _serve(route: Any) -> None:
    request = route.request
    if request.url.startswith("file:"):
        route.continue_()
    elif request.resource_type == "image":
        route.fulfill(status=200, content_type="image/png", body=IMAGE)
    else:
        route.abort()


NAMES = ["fixture", "demo-full", "demo-lean"]


@pytest.mark.parametrize("name", NAMES)
def test_without_its_style_blocks_the_email_fits_a_phone(
    open_page: Any, emails: dict[str, Path], name: str
) -> None:
    page = open_page(emails[name], PHONE)
    removed = page.evaluate(
        "() => { const s = [...document.querySelectorAll('style')]; s.forEach(e => e.remove());"
        " return s.length; }"
    )
    assert removed >= 1  # the phone and dark-mode rules are gone
    screenshot(page, f"inbox-{name}-nostyle-{PHONE}.png")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    print(f"{name}: scrollWidth {scroll} at {PHONE}px without <style>")
    assert scroll <= PHONE
    container = page.eval_on_selector(".container", "e => e.getBoundingClientRect().width")
    assert container <= PHONE
    # the score card and the review's title still sit side by side, inside the card
    overflow = page.evaluate(
        "() => [...document.querySelectorAll('.card *')].filter(e =>"
        " e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).length"
    )
    assert overflow == 0


@pytest.mark.parametrize("name", NAMES)
def test_with_its_styles_the_column_is_600_on_desktop_and_fits_a_phone(
    open_page: Any, emails: dict[str, Path], name: str
) -> None:
    wide = open_page(emails[name], WIDE)
    assert wide.eval_on_selector(".container", "e => e.getBoundingClientRect().width") == DESKTOP
    screenshot(wide, f"inbox-{name}-light-{WIDE}.png")
    desktop = open_page(emails[name], DESKTOP)
    assert desktop.evaluate("document.documentElement.scrollWidth") <= DESKTOP
    screenshot(desktop, f"inbox-{name}-light-{DESKTOP}.png")
    phone = open_page(emails[name], PHONE)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE
    assert phone.eval_on_selector(".score-col", "e => getComputedStyle(e).display") == "block"
    screenshot(phone, f"inbox-{name}-light-{PHONE}.png")


@pytest.mark.parametrize("scheme", ["dark", "light"])
@pytest.mark.parametrize("name", NAMES)
def test_every_text_reaches_aa_contrast_on_its_background(
    open_page: Any, emails: dict[str, Path], name: str, scheme: str
) -> None:
    lowest = []
    for width in (WIDE, PHONE):
        page = open_page(emails[name], width, scheme)
        screenshot(page, f"inbox-{name}-{scheme}-{width}.png")
        canvas = "rgb(16, 18, 20)" if scheme == "dark" else "rgb(255, 255, 255)"
        measured = page.evaluate(CONTRASTS, canvas)
        assert len(measured) > 20  # the walk saw the email
        texts = {m["text"] for m in measured}
        for expected in ("View online", "TL;DR", "Unsubscribe"):
            assert expected in texts, sorted(texts)
        failing = [m for m in measured if m["ratio"] < AA]
        assert not failing, "\n".join(map(str, failing))
        lowest.append(min(measured, key=lambda m: m["ratio"]))
    worst = min(lowest, key=lambda m: m["ratio"])
    print(f"{name} {scheme}: lowest contrast {worst['ratio']}:1 ({worst})")
