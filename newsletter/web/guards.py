"""What every request and response of the web app goes through: form protection, size and
rate limits, and the headers a mail service's pages should send.

- **Forms** carry a CSRF token (Flask-WTF: a random value kept in a signed session cookie,
  ``SameSite=Lax``, ``HttpOnly``, ``Secure`` under https) and, when the browser sends an
  ``Origin``, it must be this site's. Every page says ``Referrer-Policy: no-referrer``, and
  under it browsers send ``Origin: null`` on a form POST (Fetch, "serializing a request
  origin"), so ``null`` passes and the token decides. Flask-WTF's own Referer check for
  https is off for the same reason. The RFC 8058 one-click POST a mail provider sends to the
  ``List-Unsubscribe`` URL is exempt: it comes with no cookie, and its signed URL is what
  authenticates it.
- **Size**: a request body over :data:`MAX_BODY` gets 413 before anything reads it.
- **Rate limits** on sign-up (Flask-Limiter): per client address and per address signed up
  for (counted by the address's SHA-256), in Redis when one is configured (shared by every
  process), else in this process. A request over a limit gets 429 with ``Retry-After``.
  The client is the peer, or, when the peer is a proxy on this machine or a private network,
  the address that proxy appended to ``X-Forwarded-For`` (the last one: those before it are
  whatever the client claimed).
- **Headers** on every response: a Content-Security-Policy that allows only this page's own
  style and script (a per-response nonce) and no framing, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer`` (links carry tokens in their paths) and
  ``Cache-Control: no-store`` (pages name a person, or carry a form's token).
"""

from __future__ import annotations

import ipaddress
import math
import secrets
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from flask import Flask, g, render_template, request
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from newsletter.config import Settings

MAX_BODY = 64 * 1024  # bytes: a sign-up form is well under 1 KB
# Every page of ours: its own <style> and <script> (a per-response nonce) and nothing else;
# fetch() and EventSource (the control room), frames (the desk's preview) and images (and the
# logo's origin, when one is set) from this site only; posting only to itself; never framed.
PAGE_POLICY = (
    "default-src 'none'; style-src {nonce}; script-src {nonce}; connect-src 'self'; "
    "frame-src 'self'; img-src 'self'{images}; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# The "View online" copy of an email: inlined styles and remote https images, as in the mail.
COPY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
ONE_CLICK_ENDPOINT = "public.unsubscribe"

csrf = CSRFProtect()


def is_one_click() -> bool:
    """The RFC 8058 POST to a List-Unsubscribe URL (body ``List-Unsubscribe=One-Click``)."""
    return request.form.get("List-Unsubscribe") == "One-Click"


def protect(
    app: Flask,
    settings: Settings,
    secret: bytes,
    *,
    fallbacks: Sequence[bytes] = (),
    images: str | None = None,
) -> None:
    """Install the request checks and response headers on ``app``; ``images``: one more
    origin pages may show images from (the logo's). ``fallbacks``: keys of before a rotation,
    whose session cookies and form tokens are still accepted (and signed again with
    ``secret``)."""
    app.config.update(
        SECRET_KEY=secret,
        SECRET_KEY_FALLBACKS=list(fallbacks),  # Flask 3.1: the session cookie
        # Flask-WTF signs its form token with this (itsdangerous: a list is oldest to newest,
        # the last one signs, any one verifies); a page opened before a rotation still posts.
        WTF_CSRF_SECRET_KEY=[*fallbacks, secret],
        MAX_CONTENT_LENGTH=MAX_BODY,
        SESSION_COOKIE_NAME="nl_form",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        WTF_CSRF_CHECK_DEFAULT=False,  # check_form below decides, for the one-click exemption
        WTF_CSRF_SSL_STRICT=False,  # it needs a Referer, which no-referrer never sends
        WTF_CSRF_TIME_LIMIT=12 * 3600,  # a confirm page left open over lunch still works
    )
    csrf.init_app(app)
    # "/u//x" is no page of ours: a 404, never a redirect (a one-click POST is not followed).
    app.url_map.merge_slashes = False
    ours = {urlsplit(settings.base_url).netloc}
    https = settings.base_url.startswith("https://")

    @app.before_request
    def check_form() -> None:
        if request.method != "POST":
            return
        if request.endpoint == ONE_CLICK_ENDPOINT and is_one_click():
            return
        origin = request.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc not in ours | {request.host}:
            raise Forbidden(f"a form posted from {origin[:100]}")
        csrf.protect(apply_exemptions=True)  # the API's blueprint is exempt (web.api)

    app.jinja_env.globals["csp_nonce"] = nonce

    @app.after_request
    def headers(response: Response) -> Response:
        used = g.get("csp_nonce")
        source = f"'nonce-{used}'" if used else "'none'"
        policy = PAGE_POLICY.format(nonce=source, images=f" {images}" if images else "")
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers["X-Content-Type-Options"] = "nosniff"
        # frame-ancestors, for older browsers; the desk's preview frame sets SAMEORIGIN
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store, max-age=0"
        if https:  # RFC 6797: browsers keep to https, so no link with a token goes in clear
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    def refused(title: str, message: str, status: int) -> tuple[str, int]:
        return render_template("message.html.j2", title=title, message=message), status

    @app.errorhandler(CSRFError)
    def expired_form(exc: CSRFError) -> tuple[str, int]:
        return refused(
            "This form has expired",
            "It was open too long, or it did not come from this site. Nothing was changed: "
            "go back, reload the page and try again.",
            400,
        )

    @app.errorhandler(Forbidden)
    def foreign_form(exc: Forbidden) -> tuple[str, int]:
        return refused(
            "This form is not ours", "It was sent from another site. Nothing was changed.", 403
        )

    @app.errorhandler(413)
    def too_large(exc: Exception) -> tuple[str, int]:
        return refused(
            "Too much to send",
            f"The form sent more than {MAX_BODY // 1024} KB. Nothing was changed.",
            413,
        )


def nonce() -> str:
    """This response's style nonce (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    value: str = g.csp_nonce
    return value


# Where our own proxy may be: loopback and the private ranges of RFC 1918 and RFC 4193.
# Python's is_private is wider (documentation ranges, Teredo's 2001::/32 whose clients are
# anyone on the internet), which would let any such client name itself in X-Forwarded-For.
PROXY_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def client_address() -> str:
    """Who is asking, for the per-client limit (see the module's docstring). The last
    ``X-Forwarded-For`` entry counts only when the peer is our proxy (loopback or a private
    network) and the entry is an IP address; an IPv6 client is counted by its /64, the block
    one subscriber line gets, so that cycling through its addresses does not reset the limit."""
    peer = request.remote_addr or "unknown"
    forwarded = request.headers.get("X-Forwarded-For", "").rpartition(",")[2].strip()
    try:
        address = ipaddress.ip_address(peer)
        behind_proxy = any(address in net for net in PROXY_NETWORKS)
    except ValueError:
        behind_proxy = False
    try:
        client = ipaddress.ip_address(forwarded if forwarded and behind_proxy else peer)
    except ValueError:
        return peer
    if client.version == 6:
        return str(ipaddress.ip_network(f"{client}/64", strict=False))
    return str(client)


def rate_limiter(app: Flask, settings: Settings) -> Limiter:
    """Flask-Limiter on ``app``: Redis when configured (NEWSLETTER_REDIS_URL or a Redis broker),
    else this process's memory. When Redis stops answering, the limits hold in memory until it
    is back (a limit must not turn into a 500)."""
    storage = settings.limiter_url or "memory://"
    limiter = Limiter(
        key_func=client_address,
        app=app,
        storage_uri=storage,
        strategy="fixed-window",
        key_prefix="newsletter",
        in_memory_fallback_enabled=storage != "memory://",
        headers_enabled=False,  # X-RateLimit-Remaining per address would tell of others' tries
    )

    @app.errorhandler(429)
    def too_many(exc: Exception) -> tuple[str, int, dict[str, str]]:
        limit = limiter.current_limit
        wait = max(1, int(limit.reset_at - time.time())) if limit is not None else 60
        minutes = math.ceil(wait / 60)
        html = render_template(
            "message.html.j2",
            title="Too many sign-ups",
            message=(
                "Too many sign-ups came from here or for this address. Nothing was changed: "
                f"try again in {minutes} minute{'s' if minutes > 1 else ''}."
            ),
        )
        return html, 429, {"Retry-After": str(wait)}

    return limiter
