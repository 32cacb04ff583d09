"""The web app (Flask app factory): the subscriber pages now, editor and operator pages later.

``create_app(settings)`` builds an app bound to one database and one transport; tests pass their
own. Nothing here keeps state between requests but the engine's pool; no page sets a cookie.
Production: ``gunicorn 'newsletter.web:create_app()'`` (settings from the environment), or
``newsletter serve`` for a single process.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.render import templates_dir
from newsletter.config import Settings
from newsletter.delivery.transport import Transport
from newsletter.subscribers.tokens import Signer, load_secret


@dataclass
class WebContext:
    """What every request handler needs, kept in ``app.extensions["newsletter"]``."""

    settings: Settings
    factory: sessionmaker[Session]
    signer: Signer
    transport: Transport


def create_app(
    settings: Settings | None = None,
    *,
    factory: sessionmaker[Session] | None = None,
    transport: Transport | None = None,
) -> Flask:
    from newsletter.db import make_engine, require_schema, session_factory
    from newsletter.delivery import make_transport
    from newsletter.web.public import public
    from newsletter.web.tracking import tracking

    settings = settings or Settings.from_env()
    if factory is None:
        engine = make_engine(settings)
        require_schema(engine)
        factory = session_factory(engine)
    app = Flask(__name__, template_folder=str(templates_dir() / "web"), static_folder=None)
    # Flask escapes only templates named *.html; ours are *.html.j2.
    app.jinja_env.autoescape = True
    app.extensions["newsletter"] = WebContext(
        settings=settings,
        factory=factory,
        signer=Signer(load_secret(settings)),
        transport=transport or make_transport(settings),
    )
    app.register_blueprint(public)
    app.register_blueprint(tracking)
    return app
