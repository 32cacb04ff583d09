"""Subscriber rows from CSV: email, name and category checks, in that order (pure).

Rules (README, "Subscriber import"): the email is trimmed and lower-cased and must have one
``@``, a non-empty local part without whitespace and a domain of two or more dot-separated
labels of letters, digits and hyphens; the first of a repeated email wins; names are trimmed
with inner whitespace folded; categories split on ``; , |`` and must be among the six sections.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field

from newsletter.errors import FieldError, InputError
from newsletter.sections import parse_picks

_DOMAIN_LABEL = re.compile(r"[a-z0-9-]+")
STATUSES = frozenset({"pending", "confirmed", "unsubscribed", "bounced", "complained"})
HEADER_ALIASES = {
    "email": ("email", "e-mail", "email address", "e-mail address", "mail"),
    "name": ("name", "first name", "firstname", "full name", "first_name"),
    "categories": ("categories", "interests", "sections", "category", "topics"),
    "status": ("status",),
}


class InvalidEmail(ValueError):
    pass


def normalize_email(raw: str) -> str:
    """Trim and lower-case an address and check its shape; raises :class:`InvalidEmail`."""
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    labels = domain.split(".")
    if (
        not at
        or "@" in domain
        or not local
        or any(c.isspace() for c in email)
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or len(email) > 320
    ):
        raise InvalidEmail(f"invalid email {raw.strip()[:80]!r}")
    return email


def address_field(raw: str, field: str = "email", *, shown: str | None = None) -> str:
    """:func:`normalize_email` for a request's field: a bad address is a
    :class:`~newsletter.errors.FieldError` naming ``field`` (``email``, ``to``...)."""
    try:
        return normalize_email(raw)
    except InvalidEmail as exc:
        raise FieldError(field, str(exc), shown=shown) from exc


def email_hash(email_key: str) -> str:
    return hashlib.sha256(email_key.encode()).hexdigest()


def clean_name(raw: str | None) -> str | None:
    name = " ".join((raw or "").split())
    return name[:200] or None


@dataclass(frozen=True)
class SubscriberRow:
    line: int
    email: str
    name: str | None
    categories: list[str]
    status: str | None = None


@dataclass(frozen=True)
class RowRejection:
    line: int
    reason: str  # invalid_email, duplicate, unknown_category
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason} ({self.detail})"


@dataclass
class ParsedSubscribers:
    accepted: list[SubscriberRow] = field(default_factory=list)
    rejected: list[RowRejection] = field(default_factory=list)


def decode_csv(data: bytes, source: str) -> str:
    """UTF-8 with or without BOM, else Latin-1 (which decodes any byte string)."""
    if b"\x00" in data[:4096]:
        raise InputError(f"{source}: binary data, not a CSV file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _column(header: list[str], field_name: str) -> int | None:
    for alias in HEADER_ALIASES[field_name]:
        if alias in header:
            return header.index(alias)
    return None


def parse_subscribers(data: bytes, source: str) -> ParsedSubscribers:
    """Parse a subscriber CSV; the whole file fails (InputError) only when it is not one."""
    text = decode_csv(data, source)
    # The delimiter is the separator the header line uses most. csv.Sniffer looks at data
    # rows too, where ";" and "|" also separate categories inside a field, and guesses wrong.
    header_line = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=lambda d: (header_line.count(d), d == ","))
    rows = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(rows, [])]
    except csv.Error as exc:
        raise InputError(f"{source}: malformed CSV: {exc}") from exc
    email_col = _column(header, "email")
    if email_col is None:
        raise InputError(f"{source}: no email column in header {header[:6]}")
    name_col, cat_col = _column(header, "name"), _column(header, "categories")
    status_col = _column(header, "status")
    out = ParsedSubscribers()
    seen: set[str] = set()
    try:
        for cells in rows:
            line = rows.line_num
            if not any(c.strip() for c in cells):
                continue

            def cell(index: int | None, cells: list[str] = cells) -> str:
                return cells[index] if index is not None and index < len(cells) else ""

            try:
                email = normalize_email(cell(email_col))
            except InvalidEmail as exc:
                out.rejected.append(RowRejection(line, "invalid_email", str(exc)))
                continue
            if email in seen:
                out.rejected.append(RowRejection(line, "duplicate", email))
                continue
            try:
                picks = parse_picks(cell(cat_col))
            except ValueError as exc:
                out.rejected.append(RowRejection(line, "unknown_category", str(exc)))
                continue
            status = cell(status_col).strip().lower() or None
            if status is not None and status not in STATUSES:
                out.rejected.append(RowRejection(line, "unknown_status", repr(status)))
                continue
            seen.add(email)
            out.accepted.append(
                SubscriberRow(line, email, clean_name(cell(name_col)), picks, status)
            )
    except csv.Error as exc:
        raise InputError(f"{source}: malformed CSV at line {rows.line_num}: {exc}") from exc
    return out
