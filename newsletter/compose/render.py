"""Rendering one issue variant: Jinja2 for HTML and text, premailer to inline the CSS, once.

Two environments: the HTML one autoescapes every template (``select_autoescape`` would not match
``.html.j2`` names, so autoescape is simply on), the text one never escapes. Links and images
pass through ``safe_url``, which lets only ``https:`` through (``http:`` is upgraded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import premailer

from newsletter.compose.colors import (
    DARK_SURFACE,
    LIGHT_SURFACE,
    Band,
    band_for,
    legible_on,
    readable_text,
)
from newsletter.compose.content import Branding, IssueContent
from newsletter.compose.personalize import Placeholders

SECTION_TITLES = (("new", "New this week"), ("trending", "Trending"))


def templates_dir() -> Path:
    """``templates/`` of the source tree, or the copy shipped inside the installed package."""
    shipped = Path(str(files("newsletter"))) / "templates"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "templates"


def safe_url(value: object) -> str:
    """An absolute ``https:`` URL, else "" (no javascript:, data: or relative URLs). A plain
    ``http:`` URL is upgraded to https: mail clients flag insecure links and images, and a
    review site without https is rare enough to be the site's problem."""
    text = str(value or "").strip()
    parts = urlsplit(text)
    if not parts.netloc:
        return ""
    if parts.scheme == "http":
        return "https" + text[len("http") :]
    return text if parts.scheme == "https" else ""


def _day(value: date | datetime) -> str:
    return f"{value:%B} {value.day}, {value.year}"


def _band(score_norm: float | None) -> Band:
    return band_for(score_norm if score_norm is not None else 0.0)


def _environment(root: Path, *, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        # The text environment must not escape: its output is text/plain, not HTML.
        autoescape=html,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        trim_blocks=not html,
        lstrip_blocks=not html,
        keep_trailing_newline=True,
    )
    env.filters.update(safe_url=safe_url, day=_day, band=_band)
    return env


@lru_cache(maxsize=4)
def environments(root: Path | None = None) -> tuple[jinja2.Environment, jinja2.Environment]:
    """(html, text) environments over ``root`` (default: :func:`templates_dir`)."""
    root = root or templates_dir()
    return _environment(root, html=True), _environment(root, html=False)


@dataclass(frozen=True)
class RenderedVariant:
    mask: int
    subject: str
    html: str  # inlined, with per-recipient placeholders
    text: str
    nonce: str  # of the placeholders (see compose.personalize)


def inline_css(html: str) -> str:
    """Move ``<style>`` rules into ``style`` attributes (premailer), without network access.

    Comments, Outlook's conditional ones included, pass through lxml untouched. premailer
    would copy CSS ``width``/``height`` into attributes, overwriting the templates' own: a
    ``height: auto`` becomes the invalid ``height="auto"`` (HTML wants a pixel count) and an
    image's ``width: 100%`` replaces the pixel width Outlook needs. So sizes stay in CSS, and
    the templates write the attributes they mean."""
    inliner = premailer.Premailer(
        html,
        remove_classes=False,
        disable_validation=True,
        allow_network=False,
        cssutils_logging_level=logging.CRITICAL,
        keep_style_tags=False,
        disable_basic_attributes=["width", "height"],
    )
    out: str = inliner.transform(pretty_print=False)
    if not out.lstrip().lower().startswith("<!doctype"):
        out = "<!DOCTYPE html>\n" + out
    return out


def render_variant(
    content: IssueContent, mask: int, brand: Branding, root: Path | None = None
) -> RenderedVariant:
    """Render and inline the variant of ``content`` for category ``mask``."""
    html_env, text_env = environments(root)
    marks = Placeholders.fresh()
    view = content.for_mask(mask).resolved(brand.site_name)
    assert view.subject is not None
    context = {
        "issue": view,
        "subject": view.subject,
        "preheader": view.preheader,
        "sections": [(title, getattr(view, key)) for key, title in SECTION_TITLES],
        "brand": brand,
        "button_text": readable_text(brand.accent_color),
        # The accent as text (section titles, TL;DR labels) at 4.5:1 on either surface.
        "accent_text": legible_on(brand.accent_color, LIGHT_SURFACE),
        "accent_dark": legible_on(brand.accent_color, DARK_SURFACE),
        "ph": marks.marks,
    }
    html = inline_css(html_env.get_template("email/issue.html.j2").render(context))
    text = text_env.get_template("email/issue.txt.j2").render(context)
    return RenderedVariant(mask, view.subject, html, text, marks.nonce)
