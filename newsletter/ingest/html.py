"""HTML documents and fragments for the extractors: decoding, parsing, visible text, bylines.

Pages on the real web lie about their encoding; feeds and the WordPress API carry HTML
fragments. Everything here is pure and works on lxml trees.
"""

from __future__ import annotations

import codecs
import re

import lxml.html
from lxml.etree import ParserError
from lxml.html import HtmlElement as HtmlElement

from newsletter.ingest.normalize import plain_text
from newsletter.ingest.records import SourceError

# Elements whose content is never visible text (a <script> in a title is not part of it).
INVISIBLE = frozenset({"script", "style", "noscript", "template", "iframe", "svg", "head"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
# What libxml2 cannot hold in a tree (XML 1.0 section 2.2, Char): C0 controls but tab, LF and
# CR, lone surrogates, U+FFFE and U+FFFF. Browsers show nothing for them; neither do we.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ADDRESS = r"(?:mailto:)?[^\s@()<>,;\"]+@[^\s@()<>,;\"]+"
# RSS 2.0 <author> is "email (Name)" (RSS 2.0 spec, "Elements of <item>"); feeds in the wild
# also write "Name (email)" and "Name <email>" (RFC 5322 name-addr), or the address alone.
_NAME_FORMS = (
    re.compile(rf"^\s*{_ADDRESS}\s*\((?P<name>.*)\)\s*$", re.S),
    re.compile(rf"^(?P<name>.*?)\s*[(<]\s*{_ADDRESS}\s*[)>]\s*$", re.S),
)
_LONE_ADDRESS = re.compile(rf"\s*[(<\[]?\s*{_ADDRESS}\s*[)>\]]?\s*")
# what a blogging host writes beside an address when the author hides their profile
_NO_NAME = frozenset({"unknown", "noreply", "no-reply"})
_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
    b"\x1f\x8b": "gzip-compressed data",
}


def binary_kind(data: bytes) -> str | None:
    """The kind of a binary payload (``"a PNG image"``), or ``None`` when it looks like text."""
    for signature, kind in _SIGNATURES.items():
        if data.startswith(signature):
            return kind
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "binary data"
    return None


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_html(data: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """Decode a page: BOM, then the declared charset (HTTP header, else ``<meta>``), then UTF-8.

    A page whose bytes do not decode in the charset it declares is read as Windows-1252 (a
    superset of ISO-8859-1 for printable text, and what browsers do); the second value is a
    note saying so, else ``None``.
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le")):
        if data.startswith(bom):
            return data[len(bom) :].decode(name, errors="replace"), None
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", errors="replace"), None
    meta = _META_CHARSET.search(data[:4096])
    codec = _codec(declared) or _codec(meta.group(1).decode("ascii") if meta else None) or "utf-8"
    if codec in ("ascii", "latin-1", "iso8859-1"):
        codec = "cp1252"  # WHATWG: these labels mean windows-1252
    try:
        return data.decode(codec), None
    except UnicodeDecodeError:
        fallback = "cp1252" if codec != "cp1252" else "latin-1"
        note = f"declares {codec} but its bytes are not; read as windows-1252"
        return data.decode(fallback, errors="replace"), note


def parse_document(
    data: bytes, source: str, declared: str | None = None
) -> tuple[HtmlElement, str | None]:
    """Parse a whole HTML page; raises :class:`SourceError` when it is not HTML at all."""
    kind = binary_kind(data)
    if kind:
        raise SourceError(source, f"not an HTML page: the data is {kind}")
    text, note = decode_html(data, declared)
    text = _NOT_XML_CHAR.sub("", _XML_DECL.sub("", text, count=1))
    if "<" not in text:
        raise SourceError(source, "not an HTML page: no markup at all")
    try:
        root = lxml.html.document_fromstring(text)
    except (ParserError, ValueError) as exc:
        raise SourceError(source, f"not an HTML page: {exc}") from exc
    return root, note


def parse_fragment(markup: str | None) -> HtmlElement:
    """An HTML fragment (feed content, WordPress ``content.rendered``) under one ``<div>``."""
    wrapper = lxml.html.Element("div")
    if not markup or not markup.strip():
        return wrapper
    try:
        children = lxml.html.fragments_fromstring(_NOT_XML_CHAR.sub("", _XML_DECL.sub("", markup)))
    except (ParserError, ValueError):
        return wrapper
    for child in children:
        if isinstance(child, str):
            wrapper.text = (wrapper.text or "") + child
        else:
            wrapper.append(child)
    return wrapper


def _visible(el: HtmlElement, parts: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag not in INVISIBLE and tag:
        if el.text:
            parts.append(el.text)
        for child in el:
            _visible(child, parts)
            if child.tail:
                parts.append(child.tail)
        if tag in ("p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td"):
            parts.append(" ")


def text_of(el: HtmlElement | None) -> str | None:
    """The visible text of an element as plain text: invisible elements dropped, entities
    decoded, whitespace folded, and any markup that decoding revealed stripped again."""
    if el is None:
        return None
    parts: list[str] = []
    _visible(el, parts)
    text = "".join(parts)
    return plain_text(text) if ("<" in text or "&" in text) else (" ".join(text.split()) or None)


def has_class(name: str) -> str:
    """An XPath predicate body matching elements with CSS class ``name``."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def byline(raw: object) -> str | None:
    """The author's name from an RSS/Atom author field, never their address: ``"jane@example.com
    (Jane Doe)"``, ``"Jane Doe <jane@example.com>"`` and ``"Jane Doe"`` give ``"Jane Doe"``; an
    address alone (or with Blogger's placeholder ``"Unknown"``) gives ``None``, since a byline
    that shows an address publishes it to every subscriber."""
    text = plain_text(raw)  # markup and entities first: "Jane &lt;jane@x&gt;" is a name-addr
    if not text:
        return None
    for form in _NAME_FORMS:
        match = form.match(text)
        if match:
            text = match.group("name")
            break
    name = " ".join(_LONE_ADDRESS.sub(" ", text).split()).strip(" ,;:-–—")
    if match or name != text:  # an address was there: a placeholder beside it is no name
        name = "" if name.lower() in _NO_NAME else name
    return name or None
