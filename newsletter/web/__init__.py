"""The web app (Flask app factory): one face over :mod:`newsletter.services`.

``create_app(settings)`` builds an app over one services :class:`~newsletter.services.Context`;
tests pass their own (or their own transport). Nothing here keeps state between requests but
the engine's pool, and no two requests share an SMTP connection: a confirmation is queued for
a worker when a broker is set, else sent on a transport made for it. No page sets a cookie.
Production: ``gunicorn 'newsletter.web:create_app()'`` (settings from the environment), or
``newsletter serve`` for a single process.
"""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.services import Context, Transport, setup, templates_dir


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
    from newsletter.web.public import public
    from newsletter.web.tracking import tracking

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
    app.register_blueprint(public)
    app.register_blueprint(tracking)
    return app


def services() -> Context:
    """The services' context of the app handling this request."""
    context: Context = current_app.extensions["newsletter"]
    return context
