"""The API's subscriber routes (operators only): look an address up, and sign one up.

A sign-up through the API is a double opt-in like the form's: the address is stored pending and
a confirmation mail goes out after the answer (the app's confirmation queue); the subscription
starts when the person follows its link. The answer names the outcome (operators may see who
is on the list; the public form never says).
"""

from __future__ import annotations

from typing import Any

from newsletter.services import Channel
from newsletter.services import subscribers as people
from newsletter.web import confirmations, services
from newsletter.web.api import schemas
from newsletter.web.api.access import body, operators_only, query, reply, responses, route
from newsletter.web.api.errors import error_response

SEARCH_LIMIT = 20


@route("/subscribers", "GET")
@operators_only
@query(schemas.SubscriberQuerySchema)
@reply(200, schemas.SubscriberListSchema)
@responses()
def find(email: str) -> dict[str, Any]:
    """Subscribers whose address (or name) holds "email"; addresses starting with it first."""
    hits = people.search(services(), email, limit=SEARCH_LIMIT)
    return {"subscribers": [vars(h) | {"sections": list(h.sections)} for h in hits]}


@route("/subscribers", "POST")
@operators_only
@body(schemas.SignUpSchema)
@reply(202, schemas.SignUpResultSchema)
@responses(503)
def sign_up(body: dict[str, Any]) -> Any:
    """Start a double opt-in for an address: stored pending, a confirmation mail is sent."""
    done = people.sign_up(
        services(),
        body["email"],
        body.get("name"),
        body.get("categories") or [],
        source="api",
        channel=Channel.OPERATOR,
        confirmations=confirmations(),  # mailed after this answer, by the app's thread
    )
    if done.handed.error:  # the queue was full or closed: the request was withdrawn
        return error_response(503, f"{done.result.email}: {done.handed.error}; try again")
    sent = done.handed.queued or done.handed.sent
    return {
        "email": done.result.email,
        "outcome": done.result.outcome.value,
        "confirmation": "queued" if sent else "none",
    }
