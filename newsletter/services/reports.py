"""Report services: an issue's figures after (or while) it is sent, and its per-review CSV.

The figures and what each one counts are defined in :mod:`newsletter.feedback.report`.
"""

from __future__ import annotations

import csv
import io

from newsletter.feedback.report import HOURS, IssueReport, ReviewFigures, issue_report
from newsletter.services.context import Context

__all__ = ["CSV_COLUMNS", "HOURS", "IssueReport", "ReviewFigures", "report", "report_csv"]

CSV_COLUMNS = (
    "section",
    "position",
    "title",
    "url",
    "unique_clicks",
    "clicks",
    "click_rate",
)
# A cell starting with one of these is read as a formula by spreadsheet programs (OWASP,
# "CSV Injection"): a review title such as "=HYPERLINK(...)" must stay text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def report(ctx: Context, issue_id: int) -> IssueReport:
    """The figures of ``issue_id``; :class:`~newsletter.errors.NotFound` for an unknown id.
    Opens are counted only when ``NEWSLETTER_TRACK_OPENS`` is on (else ``opens`` is None)."""
    with ctx.factory() as session:
        return issue_report(session, issue_id, track_opens=ctx.settings.track_opens)


def report_csv(ctx: Context, issue_id: int) -> str:
    """The per-review figures as CSV (RFC 4180: CRLF line ends, quoted where needed), one
    header row then one row per review in reading order. ``click_rate`` is unique clicks over
    delivered messages, as a fraction with four decimals."""
    return figures_csv(report(ctx, issue_id).reviews)


def figures_csv(reviews: tuple[ReviewFigures, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in reviews:
        writer.writerow(
            (
                r.section,
                r.position,
                neutralise(r.title),
                neutralise(r.url),
                r.unique_clicks,
                r.clicks,
                f"{r.click_rate:.4f}",
            )
        )
    return out.getvalue()


def neutralise(cell: str) -> str:
    """``cell`` made safe to open in a spreadsheet: a leading formula character gets a
    leading apostrophe, which spreadsheets show as text and do not evaluate."""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell
