"""Opening the house: a :class:`Context` over the configured database, and its schema."""

from __future__ import annotations

from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.db import current_revision, make_engine, require_schema, session_factory, upgrade
from newsletter.services.context import Context
from newsletter.tokens import derive_key


def connect(settings: Settings) -> Engine:
    """An engine for ``NEWSLETTER_DATABASE_URL`` that is known to connect."""
    return make_engine(settings)


def open_context(settings: Settings, engine: Engine) -> Context:
    """The services' context over ``engine``; :class:`InputError` when the schema is missing."""
    require_schema(engine)
    return Context(settings, session_factory(engine))


def upgrade_schema(engine: Engine) -> str | None:
    """Create or migrate the schema (Alembic); the revision it is at now."""
    upgrade(engine)
    return current_revision(engine)


WEB_SESSION = "newsletter web session"


def web_secret(ctx: Context) -> bytes:
    """The web app's own key (its form session cookie), derived from the link-signing key so
    that neither can stand in for the other."""
    return derive_key(ctx.secret, WEB_SESSION)


def web_fallbacks(ctx: Context) -> list[bytes]:
    """The web keys of the fallback secret keys (a rotation): sessions and form tokens they
    signed are still accepted, and re-signed with :func:`web_secret`'s."""
    return [derive_key(key, WEB_SESSION) for key in ctx.fallbacks if key != ctx.secret]
