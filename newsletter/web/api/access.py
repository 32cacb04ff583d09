"""Who may call the API: a bearer token on every route, and operators' routes.

Every route of :data:`blp` needs ``Authorization: Bearer <token>``, a token that
``newsletter users token EMAIL`` printed (stored hashed; resolved by
:func:`newsletter.services.users.user_for_token`). None, or one unknown or revoked, gets 401 with
``WWW-Authenticate: Bearer`` (RFC 6750). Routes marked :func:`operators_only` answer an editor
with 403. The OpenAPI document (``/api/openapi.json``) is served by flask-smorest's own
blueprint and needs no token.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any, TypeVar, cast

from flask import g, request
from flask_smorest import Blueprint  # type: ignore[import-untyped]
from marshmallow import Schema
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from newsletter.errors import InputError
from newsletter.services import users
from newsletter.web import services
from newsletter.web.api.errors import error_response, install

REALM = "newsletter API"
blp = Blueprint(
    "api",
    __name__,
    url_prefix="/api",
    description="Issues and subscribers, for a CMS or scripts: the services the admin pages use.",
)
install(blp)

View = TypeVar("View", bound=Callable[..., Any])


def _challenge(message: str, error: str | None) -> Response:
    challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return error_response(401, message, headers={"WWW-Authenticate": challenge})


def authenticate() -> Response | None:
    """Resolve the bearer token into ``g.api_user`` (a :class:`users.UserInfo`), or 401."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return _challenge("send 'Authorization: Bearer <token>' (newsletter users token)", None)
    try:
        g.api_user = users.user_for_token(services(), token)
    except InputError:
        return _challenge("this token is unknown or revoked", "invalid_token")
    return None


def require_json() -> Response | None:
    """A body that is not JSON is refused (415), not read as an empty one."""
    if (
        request.method in ("POST", "PATCH", "PUT")
        and request.content_length
        and not request.is_json
    ):
        return error_response(415, "send JSON, with 'Content-Type: application/json'")
    return None


blp.before_request(authenticate)
blp.before_request(require_json)


def current_user() -> users.UserInfo:
    """The account whose token authenticated this request."""
    user: users.UserInfo = g.api_user
    return user


def operators_only(view: View) -> View:
    """Refuse an editor (403): the route schedules, sends or steers mail, or reads people."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if not user.is_operator:
            raise Forbidden(f"{user.email} is an editor: this is for operators")
        return view(*args, **kwargs)

    documented = blp.alt_response(403, response="FORBIDDEN")(checked)
    return cast("View", documented)


# flask-smorest's decorators, typed: they keep the view's signature (they wrap it).
def route(rule: str, method: str) -> Callable[[View], View]:
    return cast("Callable[[View], View]", blp.route(rule, methods=[method]))


def body(schema: type[Schema]) -> Callable[[View], View]:
    """The JSON body, validated by ``schema``, as the view's first argument."""
    return cast("Callable[[View], View]", blp.arguments(schema))


def query(schema: type[Schema]) -> Callable[[View], View]:
    """The query string, validated by ``schema``, as keyword arguments."""
    return cast("Callable[[View], View]", blp.arguments(schema, location="query", as_kwargs=True))


def reply(status: int, schema: type[Schema]) -> Callable[[View], View]:
    """What the view returns, dumped with ``schema``, answered with ``status``."""
    return cast("Callable[[View], View]", blp.response(status, schema))


def doc(**spec: Any) -> Callable[[View], View]:
    return cast("Callable[[View], View]", blp.doc(**spec))


def responses(*codes: int) -> Callable[[View], View]:
    """Document the error statuses a route may answer with (each in the one error shape)."""

    def decorate(view: View) -> View:
        for code in (401, *codes):
            view = blp.alt_response(code, response=HTTPStatus(code).name)(view)
        return view

    return decorate
