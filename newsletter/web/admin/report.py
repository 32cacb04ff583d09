"""The report of an issue (``/admin/issues/<id>/report``) and its per-review CSV
(``/admin/issues/<id>/report.csv``), for editors and operators alike.

The page shows the figures of :func:`newsletter.services.reports.report` as cards, two charts
drawn on the server (:mod:`newsletter.web.charts`: clicks per review, clicks per hour over the
first 72 hours), the per-review table the bars are drawn from, and a link to the CSV. It needs
no JavaScript. An issue that was never sent has a report too, of zeros, saying so.
"""

from __future__ import annotations

import re

from flask import abort, render_template
from markupsafe import Markup
from werkzeug.wrappers import Response

from newsletter.errors import NotFound
from newsletter.services import reports
from newsletter.services.reports import IssueReport
from newsletter.web import charts, services
from newsletter.web.admin import admin
from newsletter.web.admin.auth import current_user, login_required


def _report(issue_id: int) -> IssueReport:
    try:
        return reports.report(services(), issue_id)
    except NotFound:
        abort(404)


def review_chart(report: IssueReport) -> str:
    bars = [(f"{r.position}. {r.title}", r.unique_clicks) for r in report.reviews]
    return charts.bar_chart(
        "clicks-per-review",
        bars,
        title="Readers who clicked each review",
        desc=(
            f"Horizontal bars, one per review of issue {report.issue_id} in reading order; "
            "each bar's length and number is how many readers clicked that review. "
            "The table below gives the same figures."
        ),
        empty="This issue has no reviews.",
    )


def hours_chart(report: IssueReport) -> str:
    peak = max(report.clicks_by_hour, default=0)
    return charts.line_chart(
        "clicks-per-hour",
        report.clicks_by_hour,
        title=f"Clicks per hour over the first {reports.HOURS} hours",
        desc=(
            f"A line of clicks in each hour after the send started, {sum(report.clicks_by_hour)}"
            f" in all, at most {peak} in one hour."
        ),
        x_label="Hours after the send started",
        y_label="Clicks",
        empty="No clicks yet" if report.sent else "Not sent yet",
    )


def rate(part: int, whole: int) -> str:
    """``12.5%`` of ``whole``, ``—`` when there is no whole."""
    return f"{100 * part / whole:.1f}%" if whole else "—"


@admin.get("/issues/<int:issue_id>/report")
@login_required
def report(issue_id: int) -> str:
    figures = _report(issue_id)
    return render_template(
        "admin/report.html.j2",
        report=figures,
        hours=reports.HOURS,
        review_svg=Markup(review_chart(figures)),  # noqa: S704 - built escaped by charts
        hours_svg=Markup(hours_chart(figures)),  # noqa: S704
        rate=rate,
        user=current_user(),
        desk_url=f"/admin/issues/{issue_id}",
        control_url=f"/admin/issues/{issue_id}/control",
    )


@admin.get("/issues/<int:issue_id>/report.csv")
@login_required
def report_csv(issue_id: int) -> Response:
    figures = _report(issue_id)  # 404 before any CSV
    text = reports.figures_csv(figures.reviews)
    week = re.sub(r"[^0-9A-Za-z-]", "", figures.week_key)
    name = f"issue-{figures.issue_id}-{week}-reviews.csv"
    return Response(
        text,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
