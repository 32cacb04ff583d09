"""Subscribers as CSV (``newsletter subscribers export``), safe to open in a spreadsheet.

Columns: ``email,name,categories,status,created_at,confirmed_at``; categories are section names
joined with ``;`` (empty: every section), times ISO 8601 in UTC. A cell that starts with
``= + - @`` (or a tab or CR) could run as a formula in Excel or LibreOffice (OWASP, "CSV
Injection"): it gets a leading ``'``, which ``subscribers import`` takes off again, so the same
file reads back as it was written.
"""

from __future__ import annotations

import csv
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import Subscriber
from newsletter.sections import sections_of
from newsletter.subscribers.parse import FORMULA_START

COLUMNS = ("email", "name", "categories", "status", "created_at", "confirmed_at")


def cell(value: str) -> str:
    """``value``, neutralised if a spreadsheet would read it as a formula."""
    # A value that already looks neutralised ("'=...", "''=...") gets one more quote too, so
    # that the import, which takes one off, gives it back as it was.
    return "'" + value if value.lstrip("'").startswith(FORMULA_START) else value


def row(s: Subscriber) -> list[str]:
    return [
        cell(s.email),
        cell(s.name or ""),
        ";".join(sections_of(s.category_mask)),
        s.status.value,
        s.created_at.isoformat(),
        s.confirmed_at.isoformat() if s.confirmed_at else "",
    ]


def write_csv(session: Session, out: TextIO) -> int:
    """Every subscriber, oldest first, as CSV (RFC 4180 line ends); returns how many."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    count = 0
    for subscriber in session.scalars(select(Subscriber).order_by(Subscriber.id)):
        writer.writerow(row(subscriber))
        count += 1
    return count
