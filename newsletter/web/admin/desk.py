"""The editors' preview desk for one issue (``/admin/issues/<id>``): editors and operators.

The page shows the email as it goes out, in two frames (600 and 375 px wide) that load
``preview.html`` (the services' preview: the same renderer the sender uses), optionally as one
subscriber (``?subscriber=EMAIL``: their sections and greeting) and in dark mode (``dark=1``),
with its text part, the size of the fullest variant against the clip budget and what the size
guard dropped. While the issue is a draft or scheduled, the editor changes it here: subject,
preheader and intro; the order of each section (up/down forms, or drag and drop posting the
same move); drop, restore and pin stored reviews; test copies; approve or hold. The
pre-flight panel shows the last check and runs it again (``web.admin.checks``).

Every change is a POST with the form's CSRF token (a fetch() sends it as ``X-CSRFToken``),
answered by a redirect back to the desk with a flashed message. Bad input re-renders the desk
with status 422 and the reason next to the field the service named (:class:`FieldError`), and
nothing is saved; an issue in a state that forbids the change gets 409; an unknown issue 404.
A fetch() (``Accept: application/json``) gets ``{"ok": true}`` or
``{"error": {"code", "message", "field"}}`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import escape
from werkzeug.wrappers import Response

from newsletter.errors import FieldError, InputError, NotFound, WorkError
from newsletter.services import Edits, issues, reviews
from newsletter.services import subscribers as people
from newsletter.web import services
from newsletter.web.admin import admin
from newsletter.web.admin.auth import current_user, login_required
from newsletter.web.guards import COPY_POLICY

# The email in a frame of our own pages only; like the "View online" copy it runs no script.
FRAME_POLICY = COPY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
DARK_QUERY = "@media (prefers-color-scheme: dark)"
GREETING = re.compile(r"^(Hi [^\n]*),$", re.MULTILINE)  # the text part's first words
MAX_TEST_ADDRESSES = 10  # a proof goes to a few colleagues, not to a list
SEARCH_LIMIT = 20


# -- reading -----------------------------------------------------------------------------------
def detail_or_404(issue_id: int) -> issues.IssueDetail:
    try:
        return issues.show(services(), issue_id)
    except NotFound:
        abort(404, f"There is no issue {issue_id}.")


def said(exc: FieldError) -> str:
    """The reason shown next to the field: the value quoted back, when there is one."""
    return f"{exc.shown}: {exc.reason}" if exc.shown else exc.reason


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@admin.get("/issues/<int:issue_id>")
@login_required
def desk(issue_id: int) -> ResponseReturnValue:
    return desk_page(issue_id)


def desk_page(
    issue_id: int, *, errors: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    """The desk, with ``errors`` (field -> reason) next to their fields and ``status``."""
    context = services()
    detail = detail_or_404(issue_id)
    errors = dict(errors or {})
    email = (request.values.get("subscriber") or "").strip()[:320] or None
    dark = request.values.get("dark") == "1"
    try:
        text = issues.preview(context, issue_id, email=email, fmt="text").decode()
    except FieldError as exc:  # an unknown or malformed address: show everyone's version
        errors.setdefault("subscriber", said(exc))
        status = max(status, 422)
        email = None
        text = issues.preview(context, issue_id, fmt="text").decode()
    # whose version this is: the subscriber with exactly this address (in any case)
    hits = people.search(context, email, limit=5) if email else []
    reader = next((h for h in hits if email and h.email.lower() == email.lower()), None)
    email = reader.email if reader else email  # as stored, not as typed
    greeting = GREETING.search(text)
    query = (request.args.get("review_q") or "").strip()[:200]
    found = reviews.search(context, query, limit=SEARCH_LIMIT) if query else None
    html = render_template(
        "admin/desk.html.j2",
        issue=detail,
        row=detail.row,
        user=current_user(),
        email=email,
        reader=reader,
        greeting=greeting.group(1) if greeting else None,
        dark=dark,
        text=text,
        errors=errors,
        form=request.form if request.method == "POST" else None,
        review_q=query,
        found=found,
        check=issues.last_check(context, issue_id),
        frames={
            shade: url_for("admin.desk_frame", issue_id=issue_id, subscriber=email, dark=shade)
            for shade in (0, 1)
        },
    )
    # The app's page policy (web/guards.py) allows its nonce'd script, fetch() and the frames.
    return Response(html, status, mimetype="text/html")


@admin.get("/issues/<int:issue_id>/preview.html")
@login_required
def desk_frame(issue_id: int) -> Response:
    """The issue's HTML for the desk's frames: framable by our own pages, no script at all.
    ``dark=1`` forces its dark-mode rules whatever the browser's preference."""
    email = (request.args.get("subscriber") or "").strip()[:320] or None
    status = 200
    try:
        html = issues.preview(services(), issue_id, email=email, fmt="html").decode()
    except NotFound:
        abort(404)
    except FieldError as exc:
        status = 422
        html = f"<!DOCTYPE html><title>No preview</title><p>{escape(said(exc))}</p>"
    if request.args.get("dark") == "1":
        html = html.replace(DARK_QUERY, "@media all").replace(
            'content="light dark"', 'content="dark"', 1
        )
    response = Response(html, status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = FRAME_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def hits_json(hits: list[Any]) -> Response:
    return jsonify([{k: _plain(v) for k, v in asdict(h).items()} for h in hits])


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    return value


@admin.get("/subscribers/search")
@login_required
def desk_subscribers() -> Response:
    """Subscribers whose address or name contains ``q``, for "as subscriber…"."""
    query = (request.args.get("q") or "").strip()[:200]
    return hits_json(people.search(services(), query, limit=SEARCH_LIMIT) if query else [])


@admin.get("/reviews/search")
@login_required
def desk_reviews() -> Response:
    """Stored reviews whose title (or URL) contains ``q``, to pin into an issue."""
    query = (request.args.get("q") or "").strip()[:200]
    return hits_json(reviews.search(services(), query, limit=SEARCH_LIMIT) if query else [])


# -- changing ----------------------------------------------------------------------------------
def act(
    issue_id: int, anchor: str, work: Callable[[], list[tuple[str, str]]]
) -> ResponseReturnValue:
    """Run ``work`` (which returns the messages to flash) for an existing issue, and answer
    as the module's docstring says."""
    detail_or_404(issue_id)
    try:
        messages = work()
    except FieldError as exc:
        return refused(issue_id, exc.field, said(exc), exc.code, 422)
    except NotFound as exc:
        return refused(issue_id, None, str(exc), "unknown", 404)
    except (InputError, WorkError) as exc:  # not editable, or a status that forbids it
        return refused(issue_id, None, str(exc), "state", 409)
    for category, message in messages:
        flash(message, category)  # a fetch() reloads the page, which shows them too
    if wants_json():
        return jsonify(ok=True)
    target = url_for(
        "admin.desk", issue_id=issue_id, subscriber=request.form.get("subscriber") or None
    )
    return redirect(f"{target}#{anchor}", 303)


def refused(
    issue_id: int, field: str | None, message: str, code: str, status: int
) -> ResponseReturnValue:
    if wants_json():
        return jsonify(error={"code": code, "message": message, "field": field}), status
    return desk_page(issue_id, errors={field or "page": message}, status=status)


def edit(issue_id: int, edits: Edits, done: str) -> list[tuple[str, str]]:
    result = issues.edit(services(), issue_id, edits)
    messages = [("ok", done)]
    if result.trimmed.dropped:
        count = len(result.trimmed.dropped)
        what = "a review" if count == 1 else f"{count} reviews"
        messages.append(("error", f"The size guard dropped {what} to stay under the budget."))
    return messages


def url_field() -> str:
    url = (request.form.get("url") or "").strip()
    if not url:
        raise FieldError("url", "which review? (its URL is missing)", code="missing")
    return url


def changed(name: str) -> str | None:
    """A text field's new value, or None when it is as the page showed it (``was_<name>``):
    the form shows the automatic subject, and saving the intro must not freeze it as the
    editor's; nor should it undo a change someone else made meanwhile."""
    value = request.form.get(name)
    was = request.form.get(f"was_{name}")
    if value is None or (
        was is not None and value.replace("\r\n", "\n") == was.replace("\r\n", "\n")
    ):
        return None
    return value


@admin.post("/issues/<int:issue_id>/edit")
@login_required
def desk_edit(issue_id: int) -> ResponseReturnValue:
    """Subject, preheader and intro at once: those changed are saved (empty subject or
    preheader: the automatic one), or nothing when one is refused."""

    def work() -> list[tuple[str, str]]:
        edits = Edits(
            subject=changed("subject"), preheader=changed("preheader"), intro=changed("intro")
        )
        if edits == Edits():
            return [("ok", "Nothing to save: no field was changed.")]
        names = [n for n in ("subject", "preheader", "intro") if getattr(edits, n) is not None]
        listed = f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]
        return edit(issue_id, edits, f"Saved the {listed}.")

    return act(issue_id, "edit", work)


@admin.post("/issues/<int:issue_id>/move")
@login_required
def desk_move(issue_id: int) -> ResponseReturnValue:
    """One review to a 1-based ``position`` in its section (up/down buttons, drag and drop)."""

    def work() -> list[tuple[str, str]]:
        url, raw = url_field(), (request.form.get("position") or "").strip()
        if not raw.isdigit():
            raise FieldError("position", "a whole number, 1 for the top", shown=raw[:20] or None)
        return edit(issue_id, Edits(moves=((url, int(raw)),)), f"Moved it to place {int(raw)}.")

    return act(issue_id, "items", work)


@admin.post("/issues/<int:issue_id>/drop")
@login_required
def desk_drop(issue_id: int) -> ResponseReturnValue:
    return act(
        issue_id, "items", lambda: edit(issue_id, Edits(drops=(url_field(),)), "Dropped it.")
    )


@admin.post("/issues/<int:issue_id>/pin")
@login_required
def desk_pin(issue_id: int) -> ResponseReturnValue:
    """Restore a dropped review, or pin in any stored one: the size guard never drops it."""
    return act(
        issue_id,
        "items",
        lambda: edit(issue_id, Edits(pins=(url_field(),)), "Pinned it in the issue."),
    )


@admin.post("/issues/<int:issue_id>/test-send")
@login_required
def desk_test_send(issue_id: int) -> ResponseReturnValue:
    """A test copy to each address (commas, spaces or lines between them)."""

    def work() -> list[tuple[str, str]]:
        addresses = [a for a in re.split(r"[,;\s]+", request.form.get("to") or "") if a]
        if not addresses:
            raise FieldError("to", "at least one address", code="missing")
        if len(addresses) > MAX_TEST_ADDRESSES:
            raise FieldError("to", f"{len(addresses)} addresses, at most {MAX_TEST_ADDRESSES}")
        outcomes = issues.test_send(services(), issue_id, addresses)
        return [
            ("test-error", f"Test copy to {o.address} failed: {o.error}")
            if o.error
            else ("test-ok", f"Test copy sent to {o.address}.")
            for o in outcomes
        ]

    return act(issue_id, "test", work)


@admin.post("/issues/<int:issue_id>/approve")
@login_required
def desk_approve(issue_id: int) -> ResponseReturnValue:
    def work() -> list[tuple[str, str]]:
        scheduled = issues.approve(services(), issue_id, by=current_user().email)
        slot = ": scheduled for its weekly slot" if scheduled else ""
        return [("ok", f"Approved by {current_user().email}{slot}.")]

    return act(issue_id, "top", work)


@admin.post("/issues/<int:issue_id>/hold")
@login_required
def desk_hold(issue_id: int) -> ResponseReturnValue:
    def work() -> list[tuple[str, str]]:
        issues.hold(services(), issue_id, by=current_user().email)
        return [("ok", f"Held by {current_user().email}: it will not go out until approved.")]

    return act(issue_id, "top", work)
