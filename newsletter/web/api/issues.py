"""The API's issue routes: list, show, preview, edit, test copies, approve and hold (editors
and operators), schedule, send, pause, resume, cancel and retry (operators), and the report.

Each route parses its input with a schema (:mod:`newsletter.web.api.schemas`), calls one
service of :mod:`newsletter.services.issues` (or ``reports``), and answers with the issue as it
now stands. Errors are the domain's, worded by :mod:`newsletter.web.api.errors`.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from newsletter.errors import FieldError
from newsletter.services import Edits, issues, reports
from newsletter.web import services
from newsletter.web.api import schemas
from newsletter.web.api.access import (
    body,
    current_user,
    doc,
    operators_only,
    query,
    reply,
    responses,
    route,
)

ISSUE = "/issues/<int(min=1, max=2147483647):issue_id>"
# The preview is an email: its inline styles and remote images, nothing that runs, and in a
# sandbox (a unique origin), since its HTML holds reviews' text from elsewhere; not framed.
PREVIEW_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "frame-ancestors 'none'"
)


# -- presenting -----------------------------------------------------------------------------------
def summary(row: issues.IssueRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "week": row.week_key,
        "status": row.status,
        "subject": row.subject,
        "scheduled_at": row.send_at,
        "planned_at": row.planned_at,
        "sent_at": row.sent_at,
        "approved_by": row.approved_by,
        "held_by": row.held_by,
        "check_errors": row.check_errors,
        "counts": {
            "recipients": row.recipients,
            "sent": row.sent,
            "failed": row.failed,
            "clicks": row.clicks,
        },
    }


def detail(issue_id: int) -> dict[str, Any]:
    context = services()
    shown = issues.show(context, issue_id)
    progress = issues.status(context, issue_id)
    sections = [
        {"name": name, "items": [vars(i) for i in shown.items if i.section == name]}
        for name in schemas.SECTIONS
    ]
    return {
        **summary(shown.row),
        "preheader": shown.preheader,
        "intro": shown.intro,
        "status_reason": shown.status_reason,
        "approved_at": shown.approved_at,
        "held_at": shown.held_at,
        "version": shown.version,
        "editable": shown.editable,
        "sections": sections,
        "size": {"bytes": shown.size, "budget": shown.budget, "over_budget": shown.over_budget},
        "trimmed": list(shown.trimmed),
        "delivery": {
            "counts": progress.counts,
            "remaining": progress.remaining,
            "rate": progress.rate,
            "eta_seconds": progress.eta_seconds,
            "next_retry_at": progress.next_retry_at,
            "errors": list(progress.errors),
            "outages": [
                {
                    "since": note.since,
                    "until": note.until,
                    "tries": note.tries,
                    "ended": note.ended,
                    "worker": note.worker,
                    "replies": list(note.replies),
                }
                for note in progress.outages
            ],
        },
    }


def current(issue_id: int) -> dict[str, Any]:
    return summary(issues.show(services(), issue_id).row)


# -- reading --------------------------------------------------------------------------------------
@route("/issues", "GET")
@reply(200, schemas.IssueListSchema)
@responses()
def list_issues() -> dict[str, Any]:
    """The latest issues, newest first, with their counts."""
    return {"issues": [summary(row) for row in issues.list_issues(services())]}


@route(ISSUE, "GET")
@reply(200, schemas.IssueDetailSchema)
@responses(404)
def show_issue(issue_id: int) -> dict[str, Any]:
    """One issue: its sections and items in order, its size against the clip budget, its
    schedule and how its delivery stands."""
    return detail(issue_id)


@route(f"{ISSUE}/preview", "GET")
@query(schemas.PreviewQuerySchema)
@doc(
    responses={
        "200": {
            "description": "The message's HTML or text part, as it stands now",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    }
)
@responses(404)
def preview(issue_id: int, format: str, subscriber: str | None = None) -> Response:
    """The issue as everyone (every section) or one subscriber gets it; links not tracked."""
    body = issues.preview(services(), issue_id, email=subscriber, fmt=format)
    mimetype = "text/html" if format == "html" else "text/plain"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    return response


@route(f"{ISSUE}/report", "GET")
@reply(200, schemas.ReportSchema)
@responses(404)
def report(issue_id: int) -> reports.IssueReport:
    """Delivered, bounced, complained, unsubscribed, opens (when tracked), clicks per review
    and clicks per hour over the first 72 hours."""
    return reports.report(services(), issue_id)


# -- editing (editors and operators) --------------------------------------------------------------
def _moves(issue_id: int, changes: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The edit's moves as (where in the request, URL, position): ``order`` (section -> URLs
    first to last) first, then ``moves``. A URL ordered in the other section than its own is
    a :class:`FieldError` naming where it was given."""
    order: dict[str, list[str]] = changes.get("order", {})
    section_of = {}
    if order:
        section_of = {i.url.rstrip("/"): i.section for i in issues.show(services(), issue_id).items}
    moves: list[tuple[str, str, int]] = []
    for section, urls in order.items():
        for index, url in enumerate(urls):
            where = f"order.{section}.{index}"
            found = section_of.get(url.rstrip("/"))
            if found is not None and found != section:
                raise FieldError(where, f"this review is in {found}", shown=url)
            moves.append((where, url, index + 1))
    for index, move in enumerate(changes.get("moves", ())):
        moves.append((f"moves.{index}", move["url"], move["position"]))
    return moves


@route(ISSUE, "PATCH")
@body(schemas.IssueEditSchema)
@reply(200, schemas.IssueDetailSchema)
@responses(404, 409)
def edit_issue(changes: dict[str, Any], issue_id: int) -> dict[str, Any]:
    """Change the subject, preheader or intro; pin, drop or move reviews (by URL). A draft or
    a scheduled issue only; everything is applied, or nothing. Pins and drops are applied
    first, then the order, then the moves."""
    moves = _moves(issue_id, changes)
    edits = Edits(
        subject=changes.get("subject"),
        preheader=changes.get("preheader"),
        intro=changes.get("intro"),
        pins=tuple(changes.get("pins", ())),
        drops=tuple(changes.get("drops", ())),
        moves=tuple((url, position) for _, url, position in moves),
    )
    try:
        issues.edit(services(), issue_id, edits)
    except FieldError as exc:
        # The domain names the kind ("move"); the request's words name the entry.
        where = next((w for w, url, _ in moves if url == exc.shown), None)
        if exc.field in ("move", "position") and where is not None:
            raise FieldError(where, exc.reason, shown=exc.shown, code=exc.code) from exc
        raise
    return detail(issue_id)


@route(f"{ISSUE}/test-send", "POST")
@body(schemas.TestSendSchema)
@reply(200, schemas.TestSendResultSchema)
@responses(404)
def test_send(body: dict[str, Any], issue_id: int) -> dict[str, Any]:
    """The whole issue, subject marked [TEST], to each address; one failing address does not
    stop the others (its "error" says why)."""
    copies = issues.test_send(services(), issue_id, body["to"])
    return {"copies": [vars(c) for c in copies]}


@route(f"{ISSUE}/approve", "POST")
@reply(200, schemas.IssueSummarySchema)
@responses(404, 409)
def approve(issue_id: int) -> dict[str, Any]:
    """An editor's go: recorded; a held draft whose weekly slot is still ahead is scheduled
    at it."""
    issues.approve(services(), issue_id, current_user().email)
    return current(issue_id)


@route(f"{ISSUE}/hold", "POST")
@reply(200, schemas.IssueSummarySchema)
@responses(404, 409)
def hold(issue_id: int) -> dict[str, Any]:
    """An editor's stop: a scheduled issue goes back to draft and the weekly job leaves it."""
    issues.hold(services(), issue_id, current_user().email)
    return current(issue_id)


# -- sending (operators) --------------------------------------------------------------------------
@route(f"{ISSUE}/schedule", "POST")
@operators_only
@body(schemas.ScheduleSchema)
@reply(200, schemas.IssueSummarySchema)
@responses(404, 409)
def schedule(body: dict[str, Any], issue_id: int) -> dict[str, Any]:
    """Send a draft at "at" (or move a scheduled one); it must be in the future."""
    issues.schedule(services(), issue_id, body["at"])
    return current(issue_id)


@route(f"{ISSUE}/unschedule", "POST")
@operators_only
@reply(200, schemas.IssueSummarySchema)
@responses(404, 409)
def unschedule(issue_id: int) -> dict[str, Any]:
    """A scheduled issue back to draft, its time forgotten."""
    issues.unschedule(services(), issue_id)
    return current(issue_id)


@route(f"{ISSUE}/send", "POST")
@operators_only
@reply(200, schemas.SendResultSchema)
@responses(404, 409)
def send(issue_id: int) -> dict[str, Any]:
    """Send now to every eligible subscriber (or continue a send; nobody gets it twice)."""
    sent = issues.send(services(), issue_id)
    return {"issue": current(issue_id), "created": sent.fanout.recipients, "queued": sent.queued}


@route(f"{ISSUE}/pause", "POST")
@operators_only
@reply(200, schemas.IssueSummarySchema)
@responses(404, 409)
def pause(issue_id: int) -> dict[str, Any]:
    """Stop a send within seconds; what is unsent waits for a resume."""
    issues.pause(services(), issue_id, f"paused by {current_user().email}")
    return current(issue_id)


@route(f"{ISSUE}/resume", "POST")
@operators_only
@reply(200, schemas.IssueSummarySchema)
@responses(404, 409)
def resume(issue_id: int) -> dict[str, Any]:
    """Continue a paused send where it stopped."""
    issues.resume(services(), issue_id)
    return current(issue_id)


@route(f"{ISSUE}/cancel", "POST")
@operators_only
@reply(200, schemas.IssueSummarySchema)
@responses(404, 409)
def cancel(issue_id: int) -> dict[str, Any]:
    """Cancel a scheduled, sending or paused issue; what is unsent is never sent."""
    issues.cancel(services(), issue_id)
    return current(issue_id)


@route(f"{ISSUE}/retry-failed", "POST")
@operators_only
@body(schemas.RetrySchema)
@reply(200, schemas.RetryResultSchema)
@responses(404, 409)
def retry_failed(body: dict[str, Any], issue_id: int) -> dict[str, Any]:
    """Send again the rows that failed temporarily and those that ended "unknown" (or only
    the kinds, or the addresses, named)."""
    rows = issues.retry_failed(
        services(),
        issue_id,
        temporary=body.get("temporary", True),
        unknown=body.get("unknown_rows", True),
        emails=body.get("emails", ()),
    ).rows
    return {"issue": current(issue_id), "requeued": rows}
