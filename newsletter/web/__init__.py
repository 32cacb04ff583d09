"""The web app (Flask app factory): one face over :mod:`newsletter.services`.

``create_app(settings)`` builds an app over one services :class:`~newsletter.services.Context`;
tests pass their own (or their own transport). Nothing here keeps state between requests but
the engine's pool, the rate limits (in Redis when configured) and the confirmation queue: a
request stores a sign-up and answers; the queue's thread then hands its confirmation to a
worker (broker set) or sends it on a transport made for it, so no request waits for a mail
server and no two threads share an SMTP connection. The only cookie is the forms' CSRF
session (:mod:`newsletter.web.guards`). Production: ``gunicorn 'newsletter.web:create_app()'``
(settings from the environment; like ``serve`` on a public address, it refuses to start
without a 32-byte key and an https base URL unless that URL is on loopback), or
``newsletter serve`` for a single process.
"""

from __future__ import annotations

import ipaddress
import weakref
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.errors import WorkError
from newsletter.services import Context, Transport, setup, templates_dir
from newsletter.services import archive as front_page

if TYPE_CHECKING:
    from newsletter.services.subscribers import ConfirmationQueue

SECRET_MIN = 32  # bytes of NEWSLETTER_SECRET_KEY before serving beyond this machine


def create_app(
    settings: Settings | None = None,
    *,
    context: Context | None = None,
    factory: sessionmaker[Session] | None = None,
    transport: Transport | None = None,
) -> Flask:
    """The app over ``context`` (default: one over ``factory``, else over ``settings``'
    database). ``transport``: hand this one to every piece of work that mails (a test's
    in-memory transport)."""
    from newsletter.services import subscribers as people
    from newsletter.web.admin import admin
    from newsletter.web.admin.auth import limit_login
    from newsletter.web.api import init_api
    from newsletter.web.archive import front
    from newsletter.web.guards import protect, rate_limiter
    from newsletter.web.public import limit_sign_up, public
    from newsletter.web.tracking import tracking

    if settings is None and context is None:  # the production path: gunicorn, settings from env
        settings = Settings.from_env()
        # gunicorn binds where it is told and does not say where: the public URL's host says
        # whether this app is meant for other machines, and then it needs what serve needs.
        check_exposure(settings, urlsplit(settings.base_url).hostname or "", "NEWSLETTER_BASE_URL")
    settings = settings or (context.settings if context else Settings.from_env())
    if context is None and factory is not None:
        context = Context(settings, factory)
    if context is None:
        context = setup.open_context(settings, setup.connect(settings))
    if transport is not None:
        context.transport_factory = lambda: transport
    context.check_mail()
    app = Flask(__name__, template_folder=str(templates_dir() / "web"), static_folder=None)
    # Flask escapes only templates named *.html; ours are *.html.j2.
    app.jinja_env.autoescape = True
    app.extensions["newsletter"] = context
    # (not "archive": importing newsletter.web.archive binds that name in this package)
    logo = front_page.branding(context).logo_source
    secret, fallbacks = setup.web_secret(context), setup.web_fallbacks(context)
    protect(app, settings, secret, fallbacks=fallbacks, images=logo)
    app.register_blueprint(public)
    app.register_blueprint(tracking)
    init_api(app)
    app.register_blueprint(front)
    app.register_blueprint(admin)
    limiter = rate_limiter(app, settings)
    limit_sign_up(app, limiter, settings)
    limit_login(app, limiter)
    queue = people.confirmation_queue(context)
    app.extensions["newsletter.confirmations"] = queue
    weakref.finalize(app, queue.close, 0)  # an app dropped (tests) stops its thread
    return app


def services() -> Context:
    """The services' context of the app handling this request."""
    context: Context = current_app.extensions["newsletter"]
    return context


def confirmations(app: Flask | None = None) -> ConfirmationQueue:
    """The app's confirmation queue: ``join()`` waits until what is queued was handed over,
    ``close()`` also stops its thread (it runs at exit too)."""
    queue: ConfirmationQueue = (app or current_app).extensions["newsletter.confirmations"]
    return queue


def check_exposure(settings: Settings, host: str, where: str = "--host") -> None:
    """Refuse to serve on an address other machines can reach without what makes that safe:
    a ``NEWSLETTER_SECRET_KEY`` of at least :data:`SECRET_MIN` bytes (links are forged with the
    key, and a generated one is not shared with other processes), fallback keys
    (``NEWSLETTER_SECRET_KEY_FALLBACKS``, which still verify) of as many, and an https
    ``NEWSLETTER_BASE_URL`` (RFC 8058 one-click, and the form cookie's ``Secure``).
    :class:`WorkError` naming what is missing."""
    name = host.strip("[]")
    try:
        local = ipaddress.ip_address(name).is_loopback
    except ValueError:
        local = name == "localhost"
    if local:
        return
    missing = []
    if len((settings.secret_key or "").encode()) < SECRET_MIN:
        missing.append(f"NEWSLETTER_SECRET_KEY of at least {SECRET_MIN} bytes")
    if any(len(key.encode()) < SECRET_MIN for key in settings.secret_key_fallbacks):
        # an old key still verifies links: a short one is as forgeable as a short current one
        missing.append(f"NEWSLETTER_SECRET_KEY_FALLBACKS of at least {SECRET_MIN} bytes each")
    if not settings.base_url.startswith("https://"):
        missing.append("an https:// NEWSLETTER_BASE_URL")
    if missing:
        raise WorkError(
            f"{where} {host}: refusing to serve beyond this machine without {' and '.join(missing)}"
        )
