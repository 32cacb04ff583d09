"""The JSON API under ``/api/``, for a CMS or scripts: the same services as the admin pages.

Built with flask-smorest: marshmallow schemas validate requests and describe responses, and
the OpenAPI 3.1 document made from them is served at ``/api/openapi.json`` (no token needed).
Every other route needs a bearer token (:mod:`newsletter.web.api.access`); every error has one
shape (:mod:`newsletter.web.api.errors`). ``init_api(app)`` is called by the app factory.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException

from newsletter.web.api import checks, issues, subscribers  # noqa: F401 (routes register on blp)
from newsletter.web.api.access import REALM, blp
from newsletter.web.api.errors import from_http, is_api_request
from newsletter.web.api.schemas import ErrorSchema

TITLE = "Newsletter API"
VERSION = "1"


class NewsletterApi(Api):  # type: ignore[misc]
    """flask-smorest's Api with our error shape. Its handler is the app's for every
    ``HTTPException``; errors of the API's own routes are answered by the blueprint's handlers
    first (errors.install), so this one sees what happens before routing (no such route, a
    wrong method) and the document's route. Outside ``/api/`` it changes nothing: the pages'
    errors stay Flask's."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        if not is_api_request():
            return error  # Flask's own answer, as without the API
        return from_http(error)


def init_api(app: Flask) -> NewsletterApi:
    """Serve the API and its document on ``app``."""
    from newsletter.web.guards import csrf

    app.config.update(
        API_TITLE=TITLE,
        API_VERSION=VERSION,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Issues and subscribers of the newsletter. Every route but this "
                "document needs 'Authorization: Bearer <token>' (newsletter users token EMAIL). "
                'Errors: {"error": {"code", "message", "field"}}. Times are ISO 8601 '
                "in the publication's zone, with their offset."
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api = NewsletterApi(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": REALM}
    )
    api.register_blueprint(blp)
    # The API authenticates with a bearer token in a header, never with a cookie: a browser
    # does not attach it to a request another site makes, so there is no cross-site request
    # to forge, and API clients have no form token to send. Exempt from Flask-WTF's check.
    csrf.exempt(blp)
    return api
