"""The markup Outlook for Windows and the inliner must not spoil (no Outlook here to render it:
these check what Outlook reads, byte for byte, after premailer and click tracking)."""

from __future__ import annotations

import re

import lxml.html

from newsletter.compose.render import render_variant
from newsletter.compose.tracking import track
from tests.helpers.content import BRAND, CONTENT

HTML = render_variant(CONTENT, 0, BRAND).html
DPI = (
    "<!--[if mso]>\n<noscript><xml><o:OfficeDocumentSettings><o:AllowPNG/>"
    "<o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml></noscript>"
)
GHOST_OPEN = (
    '<!--[if mso]><table role="presentation" align="center" width="600" cellpadding="0"'
    ' cellspacing="0" border="0" style="width: 600px;"><tr><td><![endif]-->'
)
GHOST_CLOSE = "<!--[if mso]></td></tr></table><![endif]-->"


def test_outlooks_conditional_comments_survive_the_inliner_verbatim() -> None:
    head = HTML.split("</head>", 1)[0]
    assert DPI in head  # 96 DPI: Outlook at 120 DPI would scale every pixel size otherwise
    assert HTML.count(GHOST_OPEN) == 1 and HTML.count(GHOST_CLOSE) == 1
    assert HTML.index(GHOST_OPEN) < HTML.index('class="container"') < HTML.index(GHOST_CLOSE)
    assert HTML.count("<!--[if mso]>") == HTML.count("<![endif]-->") == 3
    html_tag = re.search(r"<html[^>]*>", HTML)
    assert html_tag
    assert 'xmlns:v="urn:schemas-microsoft-com:vml"' in html_tag.group(0)
    assert 'xmlns:o="urn:schemas-microsoft-com:office:office"' in html_tag.group(0)


def test_click_tracking_leaves_the_comments_alone() -> None:
    tracked = track(render_variant(CONTENT, 0, BRAND), "https://news.example.org", lambda u: "t")
    assert DPI in tracked.html and GHOST_OPEN in tracked.html and GHOST_CLOSE in tracked.html


def test_the_fluid_container_and_images_carry_their_sizes_inline_and_valid() -> None:
    doc = lxml.html.fromstring(HTML)
    container = doc.find_class("container")[0]
    assert container.get("width") == "100%"
    assert "width:100%" in container.get("style") and "max-width:600px" in container.get("style")
    images = doc.xpath("//img")
    assert images
    for image in images:
        assert image.get("height") is None or image.get("height", "").isdigit()
        assert image.get("width", "").isdigit(), image.get("width")  # Outlook's pixel width
        assert image.get("alt") is not None
    card = doc.find_class("card-image")[0]
    assert card.get("width") == "536" and "height:auto" in card.get("style")
    assert "max-width:536px" in card.get("style") and "width:100%" in card.get("style")
    assert 'height="auto"' not in HTML


def test_buttons_keep_their_padding_in_outlook() -> None:
    doc = lxml.html.fromstring(HTML)
    for cell in doc.find_class("button-cell"):
        assert "mso-padding-alt:10px 18px" in cell.get("style")
        assert cell.get("bgcolor") == BRAND.accent_color
        link = cell.find("a")
        assert "padding:10px 18px" in link.get("style") and "mso-padding-alt:0" in link.get("style")


def test_head_meta_and_a_preheader_hidden_without_a_colour() -> None:
    assert (
        '<meta name="format-detection" content="telephone=no, date=no, address=no, email=no,'
        ' url=no">' in HTML
    )
    preheader = lxml.html.fromstring(HTML).find_class("preheader")[0]
    style = preheader.get("style")
    for rule in ("display:none", "max-height:0", "overflow:hidden", "mso-hide:all", "opacity:0"):
        assert rule in style
    assert "color" not in style  # SpamAssassin's HTML_FONT_LOW_CONTRAST
