"""Every error of the API in one shape: ``{"error": {"code", "message", "field"}}``.

``code`` is a short machine-readable kind, ``message`` a sentence for a person, ``field`` the
request field the error is about (a dotted path into the body or the query: ``to.0``,
``moves.1.position``), or null. The statuses:

- 400 ``malformed``: the body is not JSON;
- 401 ``unauthorized``: no token, or one that is unknown or revoked (with ``WWW-Authenticate``);
- 403 ``forbidden``: an editor on an operators' route;
- 404 ``not_found``: no such route, or no such issue;
- 405 ``method_not_allowed`` (with ``Allow``);
- 409 a state refusal: the resource's state forbids the action (pausing a draft, editing a sent
  issue, sending an issue with nobody to send to). The domain says these with a
  :class:`~newsletter.errors.WorkError`, or with an :class:`~newsletter.errors.InputError` that
  names no field and no missing thing (``NotEditable``), so both map here;
- 415 ``unsupported_media_type``: a body that is not ``application/json``;
- 422 a bad value: marshmallow's validation (``invalid``) or the domain's
  :class:`~newsletter.errors.FieldError` (its own code: ``format``, ``past``, ``unknown``...),
  with the field named in the API's words (:data:`FIELDS`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException, default_exceptions
from werkzeug.wrappers import Response

from newsletter.errors import FieldError, NewsletterError, NotFound, WorkError

PREFIX = "/api/"
# The domain's field names (newsletter.errors.FieldError.field) in the API's words.
FIELDS = {
    "pin": "pins",
    "drop": "drops",
    "move": "moves",
    "position": "moves",
    "send_at": "at",
}
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The one error shape, as a response."""
    body = {"error": {"code": code or code_for(status), "message": message, "field": field}}
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def code_for(status: int) -> str:
    return CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")


def _flatten(messages: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(field path, message) pairs from marshmallow's nested error dict."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            yield from _flatten(value, (*path, str(key)))
    elif isinstance(messages, list | tuple):
        for value in messages:
            yield from _flatten(value, path)
    else:
        yield ".".join(p for p in path if p != "_schema"), str(messages)


def from_http(error: HTTPException) -> Response:
    """An HTTP error (werkzeug's, or webargs' 422 with marshmallow's messages) in our shape."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    messages = data.get("messages") or data.get("errors")
    if messages:
        # webargs keys its errors by location ("json", "query"): the field is the rest.
        pairs = [(p.partition(".")[2] if "." in p else "", m) for p, m in _flatten(messages)]
        if status == 400:  # webargs: the body is not JSON at all
            return error_response(400, "the body is not valid JSON", code="malformed")
        field = pairs[0][0] or None
        text = "; ".join(f"{p}: {m}" if p else m for p, m in pairs)
        return error_response(status, text, field=field, headers=headers)
    message = data.get("message") or error.description or HTTPStatus(status).phrase
    return error_response(status, str(message), headers=headers)


def from_domain(error: NewsletterError) -> Response:
    """A domain error (:mod:`newsletter.errors`) in our shape, by the rules above."""
    if isinstance(error, FieldError):
        field = FIELDS.get(error.field, error.field)
        return error_response(422, error.render(field), code=error.code, field=field)
    if isinstance(error, NotFound):
        return error_response(404, str(error))
    if isinstance(error, WorkError):
        return error_response(409, str(error))
    return error_response(409, str(error))  # an InputError naming no field: a state refusal


def install(blueprint: Blueprint) -> None:
    """Our shape for every error of ``blueprint``'s routes. Registered on the blueprint, per
    status code, so that they win over the app's own handlers for the same codes (the HTML
    pages of :mod:`newsletter.web.guards` for 400, 403, 413, 429): Flask looks up a code's
    handlers blueprint first. Errors before routing (no such route, wrong method) are the
    app-level handler's (:class:`newsletter.web.api.NewsletterApi`)."""
    for status in default_exceptions:
        blueprint.register_error_handler(status, from_http)
    blueprint.register_error_handler(NewsletterError, from_domain)


def is_api_request() -> bool:
    return request.path.startswith(PREFIX) or request.path == PREFIX.rstrip("/")
