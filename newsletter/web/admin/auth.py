"""Who may see the admin pages: login, logout, and the guards every admin route wears.

- **Session**: after a login the (signed, HttpOnly, SameSite=Lax, Secure-under-https) session
  cookie holds the user's id, their ``session_version`` and the login time. The session is
  cleared first (nothing set before the login survives it), a password change or a disabled
  account ends every older session (the version no longer matches), and a session ends
  :data:`SESSION_HOURS` after its login whatever happens.
- **Login**: one answer for every failure ("wrong email or password"), status 400, and the same
  work whether the account exists (:func:`newsletter.services.users.authenticate`). Attempts
  are rate-limited per client and per email (:func:`limit_login`); over a limit, 429 with
  ``Retry-After``. After a login, ``next`` is followed only to a path under ``/admin/``.
- **Logout** is a POST with the form's CSRF token (a GET link could be fired by any page).
- **Roles**: :func:`login_required` for what editors and operators may do,
  :func:`operator_required` for what only operators may do (an editor gets a 403 page saying
  why).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, current_app, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from werkzeug.wrappers import Response

from newsletter.errors import InputError
from newsletter.services import users
from newsletter.services.users import UserInfo
from newsletter.web import services
from newsletter.web.admin import admin

if TYPE_CHECKING:
    from flask.typing import RouteCallable

P = ParamSpec("P")
R = TypeVar("R")

SESSION_HOURS = 12  # a working day: then log in again
LOGIN_CLIENT_LIMIT = "10 per minute"  # attempts from one client (address, or IPv6 /64)
LOGIN_EMAIL_LIMIT = "10 per minute"  # attempts at one account, from anywhere
HOME = "/admin/"


def current_user() -> UserInfo:
    """The signed-in user of this request (only inside a guarded view)."""
    user: UserInfo | None = g.get("user")
    if user is None:
        raise RuntimeError("current_user() outside a view guarded by login_required")
    return user


def _session_user() -> UserInfo | None:
    """The user this request's session belongs to, if it is still valid."""
    user_id, version, since = session.get("uid"), session.get("sv"), session.get("at")
    if not isinstance(user_id, int) or not isinstance(since, int | float):
        return None
    if time.time() - since > SESSION_HOURS * 3600:
        return None
    user = users.get_user(services(), user_id)
    if user is None or user.session_version != version:
        return None
    return user


def wants_json() -> bool:
    """A page's fetch(): it asked for JSON, or sent JSON."""
    return request.is_json or request.accept_mimetypes.best == "application/json"


def login_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Let signed-in staff through (``g.user``); send anyone else to the login page, with
    ``next`` set to this page for a GET. A fetch() (:func:`wants_json`) gets a JSON 401."""

    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        user = _session_user()
        if user is None:
            session.pop("uid", None)
            if wants_json():
                return Response('{"error": "log in again"}', 401, mimetype="application/json")
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("admin.login", next=target), 303)
        g.user = user
        return view(*args, **kwargs)

    return guarded


def operator_required(view: Callable[P, R]) -> Callable[P, R | Response | tuple[str, int]]:
    """:func:`login_required`, and then only operators: an editor gets a 403 page saying why
    (a fetch(): a JSON 403)."""

    @wraps(view)
    def operators_only(*args: P.args, **kwargs: P.kwargs) -> R | Response | tuple[str, int]:
        user = current_user()
        if not user.is_operator:
            if wants_json():
                body = '{"error": "only an operator may do this"}'
                return Response(body, 403, mimetype="application/json")
            return render_template("admin/forbidden.html.j2", user=user), 403
        return view(*args, **kwargs)

    return login_required(operators_only)


def safe_next(target: str | None) -> str:
    """Where to go after the login: ``target`` when it is a path under ``/admin/`` on this
    site, else the issues list (no open redirect: ``//evil``, ``/\\evil``, ``https://evil``,
    control characters and ``..`` are all refused)."""
    if not target or len(target) > 2000 or not target.isprintable() or "\\" in target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(HOME) or ".." in parts.path:
        return HOME
    if target.startswith("//"):
        return HOME
    return target


@admin.get("/login")
def login_form() -> ResponseReturnValue:
    if _session_user() is not None:
        return redirect(safe_next(request.args.get("next")), 303)
    return render_template(
        "admin/login.html.j2",
        error=None,
        email="",
        next=request.args.get("next", ""),
        logged_out="out" in request.args,
    )


@admin.post("/login")
def login() -> ResponseReturnValue:
    email = request.form.get("email", "")[:320]
    target = request.form.get("next", "")
    try:
        user = users.authenticate(services(), email, request.form.get("password", ""))
    except InputError as exc:  # BadLogin: one message whatever went wrong
        html = render_template(
            "admin/login.html.j2", error=str(exc), email=email, next=target, logged_out=False
        )
        return html, 400
    session.clear()  # nothing from before the login carries over (session fixation)
    session.update(uid=user.id, sv=user.session_version, at=int(time.time()))
    return redirect(safe_next(target), 303)


@admin.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("admin.login", out=1), 303)


@admin.errorhandler(429)
def too_many_logins(exc: Exception) -> tuple[str, int, dict[str, str]]:
    limiters = cast("set[Limiter]", current_app.extensions.get("limiter", set()))
    limit = next((lim.current_limit for lim in limiters if lim.current_limit), None)
    wait = max(1, int(limit.reset_at - time.time())) if limit is not None else 60
    minutes = math.ceil(wait / 60)
    html = render_template(
        "admin/login.html.j2",
        error=(
            "Too many login attempts from here or for this account. "
            f"Try again in {minutes} minute{'s' if minutes > 1 else ''}."
        ),
        email="",
        next="",
        logged_out=False,
        locked=True,
    )
    return html, 429, {"Retry-After": str(wait)}


def limit_login(app: Flask, limiter: Limiter) -> None:
    """Per-client and per-email limits on the login POST (every attempt counts, right or
    wrong, so the limit says nothing about which were right)."""

    def account() -> str:
        return users.login_key(services(), request.form.get("email", ""))

    by_email = limiter.limit(LOGIN_EMAIL_LIMIT, key_func=account, methods=["POST"])
    by_client = limiter.limit(LOGIN_CLIENT_LIMIT, methods=["POST"])
    view = by_client(by_email(app.view_functions["admin.login"]))
    app.view_functions["admin.login"] = cast("RouteCallable", view)
