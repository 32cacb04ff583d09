"""An issue's delivery progress as the control room watches it: one JSON snapshot
(``GET /admin/issues/<id>/progress.json``) and a Server-Sent Events stream of them
(``GET /admin/issues/<id>/events``, one ``progress`` event a second).

The stream is bounded: it ends with an ``end`` event once the issue is sent or cancelled (its
numbers no longer move), and otherwise after :data:`STREAM_SECONDS` without an ``end``, so
that ``newsletter serve`` (one thread per request) or a gunicorn worker is not held by a
forgotten tab; the browser's EventSource then reconnects by itself after ``retry``
milliseconds and the watch goes on. Both routes need a login (editors may watch).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, jsonify

from newsletter.errors import NotFound
from newsletter.services import Context, issues
from newsletter.web import services
from newsletter.web.admin import admin
from newsletter.web.admin.auth import login_required
from newsletter.web.admin.formatting import duration, local_time

if TYPE_CHECKING:
    from newsletter.delivery.progress import Progress

STREAM_SECONDS = 60.0  # one stream's longest life (app.config["ADMIN_EVENTS_SECONDS"])
INTERVAL = 1.0  # seconds between events (app.config["ADMIN_EVENTS_INTERVAL"])
RECONNECT_MS = 2000  # the EventSource's wait before it reconnects after a bounded end
FINAL = frozenset({"sent", "cancelled"})  # statuses whose numbers no longer move
# How the bar and the counts group the delivery states.
DONE_OK = ("sent",)
DONE_BAD = ("failed", "unknown")
DONE_SKIP = ("skipped", "cancelled")


def progress_or_404(ctx: Context, issue_id: int) -> Progress:
    try:
        return issues.status(ctx, issue_id)
    except NotFound:
        abort(404)


def share(part: int, total: int) -> float:
    """Percent of ``total`` (0 for none), rounded for a bar's width."""
    return round(100 * part / total, 2) if total else 0.0


def snapshot(progress: Progress, zone: ZoneInfo) -> dict[str, Any]:
    """Everything the control room shows of a send, as plain JSON values (times already in
    the publication's zone, as the page writes them)."""
    counts = dict(progress.counts)
    total = progress.total
    ok = sum(counts.get(s, 0) for s in DONE_OK)
    bad = sum(counts.get(s, 0) for s in DONE_BAD)
    skip = sum(counts.get(s, 0) for s in DONE_SKIP)
    # An ETA only while messages go out (a finished or paused send has none).
    eta = progress.eta_seconds if progress.status == "sending" and progress.remaining else None
    finish = None
    if eta is not None and progress.now is not None:
        finish = local_time(progress.now + timedelta(seconds=eta), zone)
    stalled = progress.stalled
    return {
        "issue_id": progress.issue_id,
        "week": progress.week_key,
        "status": progress.status,
        "reason": progress.status_reason,
        "counts": counts,
        "total": total,
        "done": total - progress.remaining,
        "remaining": progress.remaining,
        "percent": share(total - progress.remaining, total),
        "bar": {"ok": share(ok, total), "bad": share(bad, total), "skip": share(skip, total)},
        "rate": round(progress.rate, 2),
        "eta_seconds": None if eta is None else round(eta),
        "eta": duration(eta) if eta is not None else None,
        "finish": finish,
        "next_retry": local_time(progress.next_retry_at, zone, empty="") or None,
        "stalled": None
        if stalled is None
        else {
            "rows": stalled.rows,
            "holders": list(stalled.holders),
            "free_at": local_time(stalled.free_at, zone),
        },
        "errors": list(progress.errors),
        "outages": [  # the SMTP server failing everyone, as each worker met it
            {
                "since": local_time(note.since, zone),
                "seconds": None if note.seconds is None else round(note.seconds),
                "tries": note.tries,
                "ended": note.ended,
                "worker": note.worker,
                "replies": list(note.replies),
            }
            for note in progress.outages
        ],
        "final": progress.status in FINAL,
        "checked": checked_at(progress, zone),
    }


def checked_at(progress: Progress, zone: ZoneInfo) -> str:
    """``01:10:09 WET``: when these numbers were read, in the publication's zone."""
    now = (progress.now or datetime.now(UTC)).astimezone(zone)
    return f"{now:%H:%M:%S} {now.tzname()}"


@admin.get("/issues/<int:issue_id>/progress.json")
@login_required
def progress_json(issue_id: int) -> Response:
    ctx = services()
    return jsonify(snapshot(progress_or_404(ctx, issue_id), ctx.settings.timezone))


LOOK_SHARE = 10  # a viewer waits at least this many times what its last look took


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def stream(ctx: Context, issue_id: int, seconds: float, interval: float) -> Iterator[str]:
    """``progress`` events until the issue's numbers stop moving (then ``end``) or until
    ``seconds`` have passed (then just the end of the response: the browser reconnects)."""
    zone = ctx.settings.timezone
    yield f"retry: {RECONNECT_MS}\n\n"
    deadline = time.monotonic() + seconds
    while True:
        looked = time.monotonic()
        try:
            data = snapshot(issues.status(ctx, issue_id), zone)
        except NotFound:  # deleted while watched
            yield event("end", {"issue_id": issue_id, "status": "gone", "final": True})
            return
        yield event("progress", data)
        if data["final"]:
            yield event("end", data)
            return
        # A look at a million-row send costs the database 0.15-0.25 s (bench/scale.py): each
        # viewer then waits ten looks' time, so watching never takes over a tenth of a core.
        wait = max(interval, LOOK_SHARE * (time.monotonic() - looked))
        if time.monotonic() + wait > deadline:
            return
        time.sleep(wait)


@admin.get("/issues/<int:issue_id>/events")
@login_required
def events(issue_id: int) -> Response:
    ctx = services()
    progress_or_404(ctx, issue_id)  # an unknown issue is a 404 now, not an event later
    config = current_app.config
    body = stream(
        ctx,
        issue_id,
        float(config.get("ADMIN_EVENTS_SECONDS", STREAM_SECONDS)),
        float(config.get("ADMIN_EVENTS_INTERVAL", INTERVAL)),
    )
    # X-Accel-Buffering: a proxy (nginx) passes each event on at once instead of buffering.
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )
