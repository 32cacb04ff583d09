"""Public subscriber pages: sign-up, confirm, unsubscribe (RFC 8058 one-click), preferences.

A GET never changes anything: mail scanners and link previewers fetch every link in a message,
so confirm and unsubscribe links show a page with a button, and only the POST acts. The
one-click POST a mail client sends to the ``List-Unsubscribe`` URL (RFC 8058: body
``List-Unsubscribe=One-Click``, no cookies, no redirects followed) unsubscribes at once and
answers 200. A forged, altered, expired or superseded token changes nothing and gets a page that
says so, with status 400.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, render_template, request
from werkzeug.wrappers import Response

from newsletter.db import transaction
from newsletter.errors import InputError, NotFound
from newsletter.models import SubscriberStatus, utcnow
from newsletter.preview import online_copy
from newsletter.sections import SECTIONS, parse_picks, sections_of
from newsletter.subscribers import consent
from newsletter.subscribers.signup import sign_up
from newsletter.subscribers.tokens import BadToken
from newsletter.web import WebContext

public = Blueprint("public", __name__)
log = logging.getLogger(__name__)


def ctx() -> WebContext:
    context: WebContext = current_app.extensions["newsletter"]
    return context


def page(title: str, message: str, status: int = 200) -> tuple[str, int]:
    return render_template("message.html.j2", title=title, message=message), status


def bad_link(exc: BadToken) -> tuple[str, int]:
    return page("This link does not work", f"{exc}. Nothing was changed.", 400)


def picks_from_form() -> list[str]:
    chosen = request.form.getlist("categories")
    return parse_picks(",".join(chosen)) if chosen else []


# -- sign-up and confirmation -----------------------------------------------------------------
@public.get("/subscribe")
def subscribe_form() -> str:
    return render_template("subscribe.html.j2", sections=SECTIONS, error=None, form={})


@public.post("/subscribe")
def subscribe() -> tuple[str, int]:
    c = ctx()
    try:
        picks = picks_from_form()
        name = request.form.get("name")
        done = sign_up(
            c.factory,
            c.settings,
            c.signer,
            c.transport,
            (request.form.get("email", ""), name, picks),
            utcnow(),
            source="web",
        )
    except (InputError, ValueError) as exc:
        form = request.form.to_dict()
        html = render_template("subscribe.html.j2", sections=SECTIONS, error=str(exc), form=form)
        return html, 400
    if done.error:
        log.warning("confirmation to %s not sent: %s", done.result.email, done.error)
    # The same answer whatever the outcome, so the form reveals nothing about an address.
    return page(
        "Check your inbox",
        f"If {done.result.email} can get {c.settings.site_name}, a message to confirm it is on "
        "its way. The subscription starts when you confirm.",
    )


@public.get("/confirm/<token>")
def confirm_form(token: str) -> tuple[str, int]:
    c = ctx()
    try:
        c.signer.verify(token, "confirm", utcnow())
    except BadToken as exc:
        return bad_link(exc)
    return render_template(
        "button.html.j2",
        title=f"Confirm your subscription to {c.settings.site_name}",
        text="One click and the weekly digest starts with the next issue.",
        button="Confirm my subscription",
    ), 200


@public.post("/confirm/<token>")
def confirm(token: str) -> tuple[str, int]:
    c = ctx()
    try:
        with transaction(c.factory) as session:
            outcome = consent.confirm(session, c.signer, token, utcnow())
    except BadToken as exc:
        return bad_link(exc)
    if outcome is consent.Confirmation.ALREADY:
        return page("Already confirmed", "This address is subscribed already.")
    return page("You are subscribed", f"{c.settings.site_name} arrives with the next issue.")


# -- unsubscribe ---------------------------------------------------------------------------------
@public.get("/u/<token>")
def unsubscribe_form(token: str) -> tuple[str, int]:
    c = ctx()
    try:
        with c.factory() as session:
            subscriber = consent.subscriber_for(session, c.signer, token, "unsubscribe")
            email = subscriber.email
    except BadToken as exc:
        return bad_link(exc)
    return render_template(
        "button.html.j2",
        title=f"Unsubscribe {email}?",
        text=f"You will get no more {c.settings.site_name} mail at this address.",
        button="Unsubscribe",
    ), 200


@public.post("/u/<token>")
def unsubscribe(token: str) -> Response | tuple[str, int]:
    c = ctx()
    # RFC 8058 3.2: the mail client's POST carries "List-Unsubscribe=One-Click"; the page's
    # own button posts an empty form. Both act at once, with no redirect and no cookie.
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    try:
        with transaction(c.factory) as session:
            subscriber = consent.subscriber_for(session, c.signer, token, "unsubscribe")
            consent.unsubscribe(
                session,
                subscriber,
                utcnow(),
                how="one-click" if one_click else "page",
                issue_id=request.args.get("i", type=int),
            )
            email = subscriber.email
    except BadToken as exc:
        return bad_link(exc)
    return page("You are unsubscribed", f"{email} will get no more {c.settings.site_name} mail.")


# -- view online ---------------------------------------------------------------------------------
@public.get("/v/<token>")
def view_online(token: str) -> Response | tuple[str, int]:
    """The issue as this recipient got it, in the browser (the "View online" link)."""
    c = ctx()
    try:
        issue, _, subscriber = c.signer.verify(token, "view").partition(".")
        if not (issue.isdigit() and subscriber.isdigit()):
            raise BadToken("malformed link token")
        with c.factory() as session:
            html = online_copy(session, c.settings, c.signer, int(issue), int(subscriber))
    except BadToken as exc:
        return bad_link(exc)
    except NotFound as exc:
        return page("This issue is gone", f"{exc}.", 404)
    # not for search engines: the page holds this reader's own unsubscribe link
    headers = {"X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
    return Response(html, mimetype="text/html", headers=headers)


# -- preferences ---------------------------------------------------------------------------------
@public.route("/p/<token>", methods=["GET", "POST"])
def preferences(token: str) -> tuple[str, int]:
    c = ctx()
    error = None
    saved = False
    try:
        with transaction(c.factory) as session:
            subscriber = consent.subscriber_for(session, c.signer, token, "preferences")
            if request.method == "POST":
                try:
                    consent.update_preferences(
                        session, subscriber, request.form.get("name"), picks_from_form()
                    )
                    saved = True
                except ValueError as exc:
                    error = str(exc)
            view = {
                "email": subscriber.email,
                "name": subscriber.name or "",
                "picks": set(sections_of(subscriber.category_mask)),
                "active": subscriber.status is SubscriberStatus.CONFIRMED,
            }
    except BadToken as exc:
        return bad_link(exc)
    html = render_template(
        "preferences.html.j2", sections=SECTIONS, saved=saved, error=error, **view
    )
    return html, 400 if error else 200
