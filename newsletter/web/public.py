"""Public subscriber pages: sign-up, confirm, unsubscribe (RFC 8058 one-click), preferences,
and the "View online" copy.

A GET never changes anything: mail scanners and link previewers fetch every link in a message,
so confirm and unsubscribe links show a page with a button, and only the POST acts. The
one-click POST a mail client sends to the ``List-Unsubscribe`` URL (RFC 8058: body
``List-Unsubscribe=One-Click``, no cookies, no redirects followed) unsubscribes at once and
answers 200. A forged, altered, expired or superseded token changes nothing and gets a page that
says so, with status 400. Every other POST carries the form's CSRF token
(:mod:`newsletter.web.guards`).

The sign-up form answers with the same status, page and (about) time whatever the address:
a bad field is refused before the database is read, the confirmation is sent after the
response by the app's queue, and the page names only the address as typed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from flask import Blueprint, Flask, render_template, request
from flask_limiter import Limiter
from werkzeug.wrappers import Response

from newsletter.config import Settings
from newsletter.errors import FieldError, InputError, NotFound
from newsletter.sections import SECTIONS
from newsletter.services import BadToken, Confirmation, issues
from newsletter.services import subscribers as people
from newsletter.web import confirmations, services
from newsletter.web.guards import COPY_POLICY, is_one_click

if TYPE_CHECKING:
    from flask.typing import RouteCallable

public = Blueprint("public", __name__)
log = logging.getLogger(__name__)


def page(title: str, message: str, status: int = 200) -> tuple[str, int]:
    return render_template("message.html.j2", title=title, message=message), status


def bad_link(exc: BadToken) -> tuple[str, int]:
    return page("This link does not work", f"{exc}. Nothing was changed.", 400)


def reason(exc: InputError) -> str:
    """A domain error in this face's words: the form shows the reason next to its fields."""
    return exc.reason if isinstance(exc, FieldError) else str(exc)


# -- sign-up and confirmation -----------------------------------------------------------------
@public.get("/subscribe")
def subscribe_form() -> str:
    return render_template("subscribe.html.j2", sections=SECTIONS, error=None, form={})


@public.post("/subscribe")
def subscribe() -> tuple[str, int]:
    context = services()
    try:
        done = people.sign_up(
            context,
            request.form.get("email", ""),
            request.form.get("name"),
            request.form.getlist("categories"),
            source="web",
            confirmations=confirmations(),  # sent after this answer, by the app's thread
        )
    except InputError as exc:
        form = request.form.to_dict()
        html = render_template("subscribe.html.j2", sections=SECTIONS, error=reason(exc), form=form)
        return html, 400
    if done.handed.error:  # the queue was full or closed; the request was withdrawn
        log.warning("confirmation for a sign-up not queued: %s", done.handed.error)
    # The same answer whatever the outcome, so the form reveals nothing about an address.
    return page(
        "Check your inbox",
        f"If {done.result.email} can get {context.settings.site_name}, a message to confirm it "
        "is on its way. The subscription starts when you confirm.",
    )


def limit_sign_up(app: Flask, limiter: Limiter, settings: Settings) -> None:
    """Per-client and per-address limits on the sign-up POST (every try counts, refused or
    not: a limit that skipped some outcomes would tell them apart)."""

    def address() -> str:
        return people.address_key(services(), request.form.get("email", ""))

    by_address = limiter.limit(settings.signup_address_limit, key_func=address, methods=["POST"])
    by_client = limiter.limit(settings.signup_client_limit, methods=["POST"])
    view = by_client(by_address(app.view_functions["public.subscribe"]))
    app.view_functions["public.subscribe"] = cast("RouteCallable", view)


@public.get("/confirm/<token>")
def confirm_form(token: str) -> tuple[str, int]:
    context = services()
    try:
        people.check_confirmation(context, token)
    except BadToken as exc:
        return bad_link(exc)
    return render_template(
        "button.html.j2",
        title=f"Confirm your subscription to {context.settings.site_name}",
        text="One click and the weekly digest starts with the next issue.",
        button="Confirm my subscription",
    ), 200


@public.post("/confirm/<token>")
def confirm(token: str) -> tuple[str, int]:
    context = services()
    try:
        outcome = people.confirm(context, token)
    except BadToken as exc:
        return bad_link(exc)
    if outcome is Confirmation.ALREADY:
        return page("Already confirmed", "This address is subscribed already.")
    return page("You are subscribed", f"{context.settings.site_name} arrives with the next issue.")


# -- unsubscribe ---------------------------------------------------------------------------------
@public.get("/u/<token>")
def unsubscribe_form(token: str) -> tuple[str, int]:
    context = services()
    if people.is_dry_run(context, token):
        return dry_run()
    try:
        email = people.unsubscribe_address(context, token)
    except BadToken as exc:
        return bad_link(exc)
    return render_template(
        "button.html.j2",
        title=f"Unsubscribe {email}?",
        text=f"You will get no more {context.settings.site_name} mail at this address.",
        button="Unsubscribe",
    ), 200


@public.post("/u/<token>")
def unsubscribe(token: str) -> Response | tuple[str, int]:
    context = services()
    # RFC 8058 3.2: the mail client's POST carries "List-Unsubscribe=One-Click"; the page's
    # own button posts its form (with its CSRF token). Both act at once, with no redirect;
    # the one-click answer sets no cookie. An unknown or malformed ?i= only loses its label.
    one_click = is_one_click()
    if people.is_dry_run(context, token):
        return dry_run()
    try:
        email = people.unsubscribe(
            context,
            token,
            how="one-click" if one_click else "page",
            issue_id=issue_number(request.args.get("i", "")),
        )
    except BadToken as exc:
        return bad_link(exc)
    return page(
        "You are unsubscribed", f"{email} will get no more {context.settings.site_name} mail."
    )


def dry_run() -> tuple[str, int]:
    """A preview's or the pre-flight check's unsubscribe link: it works, and changes nothing."""
    return page(
        "This is a test link",
        "It comes from a preview or the pre-flight check: nobody was unsubscribed.",
    )


def issue_number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


# -- view online ---------------------------------------------------------------------------------
@public.get("/v/<token>")
def view_online(token: str) -> Response | tuple[str, int]:
    """The issue as this recipient got it, in the browser (the "View online" link)."""
    try:
        html = issues.view_online(services(), token)
    except BadToken as exc:
        return bad_link(exc)
    except NotFound as exc:
        return page("This issue is gone", f"{exc}.", 404)
    # not for search engines: the page holds this reader's own unsubscribe link
    headers = {"X-Robots-Tag": "noindex", "Content-Security-Policy": COPY_POLICY}
    return Response(html, mimetype="text/html", headers=headers)


# -- preferences ---------------------------------------------------------------------------------
@public.route("/p/<token>", methods=["GET", "POST"])
def preferences(token: str) -> tuple[str, int]:
    context = services()
    error = None
    saved = False
    try:
        view = people.preferences(context, token)
        if request.method == "POST":
            try:
                view = people.save_preferences(
                    context, token, request.form.get("name"), request.form.getlist("categories")
                )
                saved = True
            except FieldError as exc:
                error = exc.reason
    except BadToken as exc:
        return bad_link(exc)
    html = render_template(
        "preferences.html.j2",
        sections=SECTIONS,
        saved=saved,
        error=error,
        email=view.email,
        name=view.name,
        picks=set(view.picks),
        active=view.active,
    )
    return html, 400 if error else 200
