"""The issues list, the admin app's home (``GET /admin/``), and building this week's draft.

The list has the columns of ``newsletter issue list`` (week, subject, status, the scheduled
or sent time in the publication's zone, recipients, sent, clicks), newest first. Each row
links to the issue's desk; a scheduled, sending or paused one to its control room (a draft
too, for operators: it is scheduled or sent from there; and a sent one with failures, for a
retry), a sent one to its report. Editors and operators both may build this week's draft (``POST
/admin/issues/build``): it is the weekly job's first step, and changes nothing that is sent.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from newsletter.errors import FieldError, InputError, WorkError
from newsletter.services import issues
from newsletter.web import services
from newsletter.web.admin import admin, formatting
from newsletter.web.admin.auth import current_user, login_required

# Statuses whose send can be watched and steered in the control room.
STEERABLE = frozenset({"scheduled", "sending", "paused"})
LIST_LIMIT = 200

formatting.install(admin)


def issue_page(issue_id: int, page: str = "") -> str:
    """``/admin/issues/<id>`` (the desk), or one of its pages (``control``, ``report``):
    links to pages other modules own, without depending on their endpoint names."""
    base = f"{url_for('admin.index')}issues/{issue_id}"
    return f"{base}/{page}" if page else base


@admin.get("/")
@login_required
def index() -> str:
    rows = issues.list_issues(services(), limit=LIST_LIMIT)
    return render_template(
        "admin/list.html.j2",
        rows=rows,
        limit=LIST_LIMIT,
        steerable=STEERABLE,
        issue_page=issue_page,
        user=current_user(),
        zone=formatting.zone().key,
    )


@admin.post("/issues/build")
@login_required
def build() -> Response:
    """Build (or find) the draft of this week, then open its desk."""
    try:
        built = issues.build(services())
    except FieldError as exc:
        flash(exc.render(exc.field), "error")
        return redirect(url_for("admin.index"), 303)
    except (WorkError, InputError) as exc:
        flash(f"Nothing was built: {exc}", "error")
        return redirect(url_for("admin.index"), 303)
    if built.created:
        flash(f"Built the draft of {built.week_key} (issue {built.issue_id}).", "ok")
    else:
        flash(
            f"{built.week_key} already has issue {built.issue_id} ({built.status}): opened it.",
            "ok",
        )
    return redirect(issue_page(built.issue_id), 303)
