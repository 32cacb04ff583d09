"""The control room of an issue (``/admin/issues/<id>/control``): watch a send and steer it.

Anyone signed in sees the page (counts by delivery state, rate, ETA, a progress bar kept up to
date by :mod:`newsletter.web.admin.live`, the latest failures with the server's reply); only
operators act. Every action is a form POST to ``/admin/issues/<id>/control/<action>``
(CSRF-checked, 403 for an editor, 404 for an unknown issue) answered by a redirect back here
with the outcome flashed. A move the issue's status forbids (pausing a sent issue, two
operators racing) is answered 409 with the service's reason on the page, and a bad time 422
naming the field; in both cases nothing was changed.

Three actions cannot be taken back, so each has a confirm step that works without
JavaScript: *send now* and *cancel* want the issue's week typed in, *retry failed* lists how
many rows of each kind would be sent again (an ``unknown`` row may reach its reader twice) and
wants them ticked. Their GET is the confirm page; their POST without the confirmation shows
it again (400, naming the field), changing nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from newsletter.errors import FieldError, InputError, NotFound, WorkError
from newsletter.services import Context, issues
from newsletter.web import services
from newsletter.web.admin import admin, formatting, live
from newsletter.web.admin.auth import current_user, login_required, operator_required

Page = str | tuple[str, int]
WATCHED = frozenset({"scheduled", "sending", "paused"})  # statuses whose numbers may move
SEND_AT = "Send at"  # the time picker's label, naming the field in its errors
FAILURES_SHOWN = 20
PICKER_T = re.compile(r"^(\d{4}-\d\d-\d\d)T")  # 2026-12-11T09:00 quoted as 2026-12-11 09:00


def control_url(issue_id: int) -> str:
    return url_for("admin.control", issue_id=issue_id)


def render_room(
    issue_id: int, *, error: str | None = None, status: int = 200, **form: Any
) -> Response:
    """The control room; ``error`` (with ``status``) when an action was refused, ``form``:
    the values to put back in the reschedule form (``send_at``, ``send_at_error``)."""
    ctx = services()
    try:
        detail = issues.show(ctx, issue_id)
        progress = issues.status(ctx, issue_id)
        failures = issues.failures(ctx, issue_id, limit=FAILURES_SHOWN)
        retryable = issues.retryable_counts(ctx, issue_id)
    except NotFound:
        abort(404)
    zone = ctx.settings.timezone
    row = detail.row
    page = render_template(
        "admin/control.html.j2",
        row=row,
        detail=detail,
        live=live.snapshot(progress, zone),
        failures=failures,
        retryable=sum(retryable.values()),
        watched=row.status in WATCHED,
        operator=current_user().role == "operator",
        error=error,
        zone_name=zone.key,
        zone_label=formatting.zone_label(row.send_at, zone),
        send_at=form.get("send_at", formatting.picker_value(row.send_at, zone)),
        send_at_error=form.get("send_at_error"),
        desk_url=f"{url_for('admin.index')}issues/{issue_id}",
    )
    return make_response(page, status)


@admin.get("/issues/<int:issue_id>/control")
@login_required
def control(issue_id: int) -> Response:
    return render_room(issue_id)


def act(issue_id: int, work: Callable[[Context], str]) -> Response | Page:
    """Run ``work`` (it returns the outcome to flash), then back to the room; a refusal is
    shown on the room itself with 409 (an illegal move) or 404 (no such issue)."""
    try:
        outcome = work(services())
    except NotFound:
        abort(404)
    except (WorkError, InputError) as exc:
        return render_room(issue_id, error=f"Nothing was changed: {exc}", status=409)
    flash(outcome, "ok")
    return redirect(control_url(issue_id), 303)


@admin.post("/issues/<int:issue_id>/control/pause")
@operator_required
def pause(issue_id: int) -> Response | Page:
    def work(ctx: Context) -> str:
        issues.pause(ctx, issue_id, reason=f"paused by {current_user().email}")
        return "Paused: workers stop within seconds; the rest stays queued for a resume."

    return act(issue_id, work)


@admin.post("/issues/<int:issue_id>/control/resume")
@operator_required
def resume(issue_id: int) -> Response | Page:
    def work(ctx: Context) -> str:
        steered = issues.resume(ctx, issue_id)
        return f"Resumed: {steered.affected} batch(es) handed to the workers."

    return act(issue_id, work)


@admin.post("/issues/<int:issue_id>/control/unschedule")
@operator_required
def unschedule(issue_id: int) -> Response | Page:
    def work(ctx: Context) -> str:
        issues.unschedule(ctx, issue_id)
        return "Back to draft: nothing goes out until it is scheduled or sent again."

    return act(issue_id, work)


@admin.post("/issues/<int:issue_id>/control/schedule")
@operator_required
def schedule(issue_id: int) -> Response | Page:
    """Schedule or reschedule: the picker's wall-clock time read in the publication's zone."""
    ctx = services()
    text = request.form.get("send_at", "")
    try:
        at = formatting.parse_local(text, ctx.settings.timezone)
        issues.schedule(ctx, issue_id, at)
    except NotFound:
        abort(404)
    except FieldError as exc:
        message = str(exc)
        if exc.field == "send_at":  # quote the time as typed, not as the UTC it became
            typed = PICKER_T.sub(r"\1 ", text.strip()[:40])
            message = f"{SEND_AT} {typed}: {exc.reason}" if typed else f"{SEND_AT}: {exc.reason}"
            if exc.code == "past":
                now = formatting.local_time(ctx.clock(), ctx.settings.timezone)
                message += f"; it is now {now}"
        return render_room(
            issue_id, status=422, send_at=text[:40], send_at_error=f"{message}; nothing changed."
        )
    except (WorkError, InputError) as exc:
        return render_room(issue_id, error=f"Nothing was changed: {exc}", status=409)
    flash(f"Scheduled for {formatting.local_time(at, ctx.settings.timezone)}.", "ok")
    return redirect(control_url(issue_id), 303)


# -- the confirm steps ---------------------------------------------------------------------------
def confirm_page(
    issue_id: int, action: str, *, error: str | None = None, status: int = 200
) -> Page:
    ctx = services()
    try:
        detail = issues.show(ctx, issue_id)
        progress = issues.status(ctx, issue_id)
        counts = issues.retryable_counts(ctx, issue_id) if action == "retry" else {}
    except NotFound:
        abort(404)
    page = render_template(
        "admin/confirm.html.j2",
        action=action,
        row=detail.row,
        progress=progress,
        counts=counts,
        error=error,
        room=control_url(issue_id),
        post_to=url_for(f"admin.{action}_confirmed", issue_id=issue_id),
    )
    return (page, status) if status != 200 else page


def week_typed(issue_id: int) -> bool:
    """Whether the form's ``confirm_week`` is the issue's week (as the confirm page asks)."""
    try:
        week = issues.show(services(), issue_id).row.week_key
    except NotFound:
        abort(404)
    return request.form.get("confirm_week", "").strip().upper() == week.upper()


@admin.get("/issues/<int:issue_id>/control/send")
@operator_required
def send_confirm(issue_id: int) -> Page:
    return confirm_page(issue_id, "send")


@admin.post("/issues/<int:issue_id>/control/send")
@operator_required
def send_confirmed(issue_id: int) -> Response | Page:
    if not week_typed(issue_id):
        return confirm_page(issue_id, "send", error="Type the week to confirm.", status=400)

    def work(ctx: Context) -> str:
        sent = issues.send(ctx, issue_id)
        where = "handed to the workers" if sent.queued else "sent by this process"
        return f"Sending started: {sent.progress.total:,} message(s), {where}."

    return act(issue_id, work)


@admin.get("/issues/<int:issue_id>/control/cancel")
@operator_required
def cancel_confirm(issue_id: int) -> Page:
    return confirm_page(issue_id, "cancel")


@admin.post("/issues/<int:issue_id>/control/cancel")
@operator_required
def cancel_confirmed(issue_id: int) -> Response | Page:
    if not week_typed(issue_id):
        return confirm_page(issue_id, "cancel", error="Type the week to confirm.", status=400)

    def work(ctx: Context) -> str:
        steered = issues.cancel(ctx, issue_id)
        return f"Cancelled: {steered.affected:,} queued message(s) will not be sent."

    return act(issue_id, work)


@admin.get("/issues/<int:issue_id>/control/retry")
@operator_required
def retry_confirm(issue_id: int) -> Page:
    return confirm_page(issue_id, "retry")


@admin.post("/issues/<int:issue_id>/control/retry")
@operator_required
def retry_confirmed(issue_id: int) -> Response | Page:
    temporary = request.form.get("temporary") == "yes"
    unknown = request.form.get("unknown") == "yes"
    if not (temporary or unknown):
        return confirm_page(
            issue_id, "retry", error="Tick the rows to send again (Retry).", status=400
        )

    def work(ctx: Context) -> str:
        rows = issues.retry_failed(ctx, issue_id, temporary=temporary, unknown=unknown).rows
        return f"{rows:,} failed message(s) queued again."

    return act(issue_id, work)
