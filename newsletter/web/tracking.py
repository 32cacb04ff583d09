"""Click redirects and the open pixel.

``GET /c/<link>/<recipient>`` sends the reader on to the URL the link's row names: never to a
URL taken from the request, so it cannot be used as an open redirect. A forged link token
gets a 400 page and no redirect. A bad recipient token still redirects (a reader's link must
not break) but counts nothing. HEAD requests, which link checkers send, count nothing either.
The first click per (delivery, link) counts once, and feeds trending
(:mod:`newsletter.clicks`).

``GET /o/<recipient>`` answers a 1x1 GIF and counts the first open of that delivery. It is
only in messages when ``NEWSLETTER_TRACK_OPENS`` is on (off by default).
"""

from __future__ import annotations

import base64
import logging

from flask import Blueprint, Response, redirect, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from newsletter.clicks import record_click, record_open, resolve_link
from newsletter.db import transaction
from newsletter.models import utcnow
from newsletter.subscribers.tokens import BadToken
from newsletter.web.public import bad_link, ctx

tracking = Blueprint("tracking", __name__)
log = logging.getLogger(__name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Referrer-Policy": "no-referrer"}


@tracking.get("/c/<link>/<recipient>")
def click(link: str, recipient: str) -> BaseResponse | tuple[str, int]:
    c = ctx()
    try:
        if request.method == "HEAD":
            with c.factory() as session:
                url = resolve_link(session, c.signer, link).url
        else:
            with transaction(c.factory) as session:
                url = record_click(
                    session, c.signer, link, recipient, utcnow(), c.settings.timezone
                ).url
    except BadToken as exc:
        return bad_link(exc)
    except SQLAlchemyError:
        # counting failed; the reader must still get where they were going
        log.exception("could not record a click")
        with c.factory() as session:
            url = resolve_link(session, c.signer, link).url
    response = redirect(url, code=302)
    response.headers.update(NO_STORE)
    return response


@tracking.get("/o/<recipient>")
def pixel(recipient: str) -> Response:
    c = ctx()
    if request.method != "HEAD":
        try:
            with transaction(c.factory) as session:
                record_open(session, c.signer, recipient.removesuffix(".gif"), utcnow())
        except SQLAlchemyError:
            log.exception("could not record an open")
    return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)
