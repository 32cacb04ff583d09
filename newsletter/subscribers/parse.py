"""Addresses, names and subscriber rows from CSV: the one place input about a person is checked.

Addresses (every entry: the sign-up form, ``subscribers add``, imports, previews and test
copies go through :func:`normalize_email`, or :func:`address_field` for a request's field): an
address must be one that mail can carry, as ``email-validator`` checks it (RFC 5321/5322 dot-atom
local part, RFC 6531 UTF-8 local parts allowed, a domain of valid labels, IDNA 2008 for
internationalized domains, no special-use domains), without looking the domain up. It is
stored in its normalized form: surrounding whitespace trimmed, Unicode NFC, an internationalized
domain in Unicode (``jo@xn--bcher-kva.de`` becomes ``jo@bücher.de``), and the whole address
lower-cased as it always was here, so ``email_key`` (the stored address) of a row that existed
before still finds it. A refusal is one line naming the value and the reason.

Names and other free text (:func:`clean_text`): control characters (NUL included, which
PostgreSQL refuses in text), lone surrogates (not encodable) and bidirectional overrides become
spaces, whitespace is folded, the length capped. A name is only ever data: the headers that carry
it encode it as one display name (``newsletter.compose.headers``).

CSV (README, "Subscriber import"): the first of a repeated email wins; categories split on
``; , |`` and must be among the six sections. A quoting error confined to one line rejects that
row; one that swallowed following lines, or a quote never closed, fails the whole file, naming
the line where the bad record starts, so nothing of a half-read file is imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from newsletter.errors import FieldError, InputError
from newsletter.sections import parse_picks

# A cell a spreadsheet would run as a formula (OWASP, "CSV Injection"): the export writes it
# after a "'" (newsletter.subscribers.export), which reading it back takes off again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
STATUSES = frozenset({"pending", "confirmed", "unsubscribed", "bounced", "complained"})
HEADER_ALIASES = {
    "email": ("email", "e-mail", "email address", "e-mail address", "mail"),
    "name": ("name", "first name", "firstname", "full name", "first_name"),
    "categories": ("categories", "interests", "sections", "category", "topics"),
    "status": ("status",),
}
NAME_LENGTH = 200  # subscribers.name
# Longer input is refused before parsing: RFC 5321 4.5.3.1.3 caps a path at 256 octets.
_LONGEST_INPUT = 512
# C0 and C1 controls, DEL, lone surrogates, bidirectional embeddings, overrides and isolates
# (a name shown in a header or a greeting must read in the order it was written).
_UNWANTED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


class InvalidEmail(ValueError):
    """An address mail cannot carry; the message is one line naming it and the reason."""


def _shown(raw: str) -> str:
    """The input quoted back: at most 80 characters, escapes for anything unprintable."""
    text = raw.strip()
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def normalize_email(raw: str) -> str:
    """The address as stored (see the module's docstring); raises :class:`InvalidEmail`."""
    text = raw.strip()
    if not text:
        raise InvalidEmail("invalid email '': it is empty")
    if len(text) > _LONGEST_INPUT:
        raise InvalidEmail(f"invalid email {_shown(raw)}: it is too long")
    if "<" in text or ">" in text:
        # email-validator calls this a display name; say what to do instead.
        raise InvalidEmail(f"invalid email {_shown(raw)}: give the address alone, without < >")
    try:
        email = validate_email(text.lower(), check_deliverability=False, allow_smtputf8=True)
        normalized = email.normalized
        if normalized != normalized.lower():  # lower-casing may denormalize (NFC), rarely
            normalized = validate_email(
                normalized.lower(), check_deliverability=False, allow_smtputf8=True
            ).normalized
    except EmailNotValidError as exc:
        reason = " ".join(str(exc).split()).rstrip(".")
        raise InvalidEmail(f"invalid email {_shown(raw)}: {reason}") from None
    return normalized


def address_field(raw: str, field: str = "email", *, shown: str | None = None) -> str:
    """:func:`normalize_email` for a request's field: a bad address is a
    :class:`~newsletter.errors.FieldError` naming ``field`` (``email``, ``to``...)."""
    try:
        return normalize_email(raw)
    except InvalidEmail as exc:
        raise FieldError(field, str(exc), shown=shown) from None


def clean_text(raw: str | None, limit: int) -> str | None:
    """Free text safe to store and show on one line: unwanted characters made spaces (see the
    module's docstring), whitespace folded, NFC, at most ``limit`` characters; None if empty."""
    text = unicodedata.normalize("NFC", _UNWANTED.sub(" ", raw or ""))
    return " ".join(" ".join(text.split())[:limit].split()) or None


def clean_name(raw: str | None) -> str | None:
    """A person's name as stored: :func:`clean_text`, at most :data:`NAME_LENGTH` characters."""
    return clean_text(raw, NAME_LENGTH)


def email_hash(email_key: str) -> str:
    return hashlib.sha256(email_key.encode()).hexdigest()


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
    reason: str  # invalid_email, duplicate, unknown_category, unknown_status, malformed_csv
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason} ({self.detail})"


@dataclass
class ParsedSubscribers:
    accepted: list[SubscriberRow] = field(default_factory=list)
    rejected: list[RowRejection] = field(default_factory=list)


def decode_csv(data: bytes, source: str) -> str:
    """UTF-8 with or without BOM, else Latin-1 (which decodes any byte string). A NUL byte
    anywhere refuses the file: text has none (and PostgreSQL stores none)."""
    if b"\x00" in data[:4096]:
        raise InputError(f"{source}: binary data, not a CSV file")
    if (nul := data.find(b"\x00")) >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(f"{source}: line {line}: a NUL byte; not a text CSV file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _column(header: list[str], field_name: str) -> int | None:
    for alias in HEADER_ALIASES[field_name]:
        if alias in header:
            return header.index(alias)
    return None


def _csv_reason(exc: csv.Error) -> str:
    if "expected after" in str(exc):
        return 'text after a closing quote (a quote inside a quoted field is written "")'
    return str(exc)


class _Records:
    """CSV records with the line each starts on. RFC 4180 quoting is enforced (``strict``): a
    quoting error within one line is that row's :class:`RowRejection`; one in a record that
    spans lines (a quote opened earlier swallowed them), or a quote still open at the end of
    the file, is an :class:`InputError` for the whole file, naming the record's first line."""

    def __init__(self, text: str, delimiter: str, source: str) -> None:
        self.reader = csv.reader(
            io.StringIO(text, newline=""), csv.excel, delimiter=delimiter, strict=True
        )
        self.source = source
        self.rejected: list[RowRejection] = []

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader = self.reader
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                end = reader.line_num
                if str(exc) == "unexpected end of data":
                    raise InputError(
                        f"{self.source}: line {start}: a quoted field is never closed (its "
                        f'opening " runs to the end of the file, line {end}); nothing imported'
                    ) from None
                if end != start:
                    raise InputError(
                        f"{self.source}: line {start}: malformed CSV: a quoted field runs on "
                        f"to line {end} ({_csv_reason(exc)}); nothing imported"
                    ) from None
                self.rejected.append(RowRejection(start, "malformed_csv", _csv_reason(exc)))
                continue
            yield start, cells


def parse_subscribers(data: bytes, source: str) -> ParsedSubscribers:
    """Parse a subscriber CSV; the whole file fails (InputError) only when it is not one, or
    cannot be read to its end (see :class:`_Records`): then nothing of it is imported."""
    text = decode_csv(data, source)
    # The delimiter is the separator the header line uses most. csv.Sniffer looks at data
    # rows too, where ";" and "|" also separate categories inside a field, and guesses wrong.
    header_line = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=lambda d: (header_line.count(d), d == ","))
    records = _Records(text, delimiter, source)
    rows = iter(records)
    _, first = next(rows, (0, []))
    if records.rejected:
        raise InputError(f"{source}: malformed CSV header: {records.rejected[0].detail}")
    header = [h.strip().lower() for h in first]
    email_col = _column(header, "email")
    if email_col is None:
        raise InputError(f"{source}: no email column in header {header[:6]}")
    name_col, cat_col = _column(header, "name"), _column(header, "categories")
    status_col = _column(header, "status")
    out = ParsedSubscribers(rejected=records.rejected)
    seen: set[str] = set()
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue

        def cell(index: int | None, cells: list[str] = cells) -> str:
            value = cells[index] if index is not None and index < len(cells) else ""
            neutralised = value[:1] == "'" and value.lstrip("'").startswith(FORMULA_START)
            return value[1:] if neutralised else value

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
            out.rejected.append(RowRejection(line, "unknown_status", _shown(status)))
            continue
        seen.add(email)
        out.accepted.append(SubscriberRow(line, email, clean_name(cell(name_col)), picks, status))
    out.rejected.sort(key=lambda rejection: rejection.line)
    return out
