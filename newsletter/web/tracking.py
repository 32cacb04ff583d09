"""Click redirects and the open pixel.

``GET /c/<link>/<recipient>`` sends the reader on to the URL the link's row names: never to a
URL taken from the request, so it cannot be used as an open redirect. A forged link token
gets a 400 page and no redirect. A bad recipient token still redirects (a reader's link must
not break) but counts nothing. HEAD requests, which link checkers send, count nothing either.
The first click per (delivery, link) counts once, and feeds trending
(:mod:`newsletter.feedback.clicks`).

``GET /o/<recipient>`` answers a 1x1 GIF and counts the first open of that delivery. It is
only in messages when ``NEWSLETTER_TRACK_OPENS`` is on (off by default); while it is off, the
pixel of an older message still loads but counts nothing (turning tracking off stops it).
"""

from __future__ import annotations

import base64

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from newsletter.services import BadToken, feedback
from newsletter.web import services
from newsletter.web.public import bad_link

tracking = Blueprint("tracking", __name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Referrer-Policy": "no-referrer"}


@tracking.get("/c/<link>/<recipient>")
def click(link: str, recipient: str) -> BaseResponse | tuple[str, int]:
    try:
        url = feedback.follow_link(services(), link, recipient, count=request.method != "HEAD")
    except BadToken as exc:
        return bad_link(exc)
    response = redirect(url, code=302)
    response.headers.update(NO_STORE)
    return response


@tracking.get("/o/<recipient>")
def pixel(recipient: str) -> Response:
    context = services()
    if context.settings.track_opens and request.method != "HEAD":
        feedback.count_open(context, recipient.removesuffix(".gif"))
    return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)
