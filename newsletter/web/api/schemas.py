"""The API's request and response bodies, as marshmallow schemas (the OpenAPI document is made
from them by flask-smorest, and requests are validated against them before a view runs).

Times go out in the publication's zone (``NEWSLETTER_TIMEZONE``) with their offset, e.g.
``2026-12-11T09:00:00-05:00``; a time coming in without an offset is read in that zone too.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from newsletter.errors import FieldError
from newsletter.localtime import parse_time
from newsletter.web import services

URLS_MAX = 100  # URLs in one list of an edit: an issue has a few dozen items at most
TO_MAX = 10  # addresses of one test send: proofs for the team, not a mailing
HEADER_MAX = 200  # characters of a subject or preheader (newsletter.issues.editing)
INTRO_MAX = 5000
STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "cancelled")
SECTIONS = ("new", "trending")
# Text fields refuse control characters: PostgreSQL cannot store NUL at all (it would be a 500),
# and none belongs in a name, an address or a search. Free text (the intro) keeps line breaks
# and tabs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def one_line(text: str) -> None:
    if _CONTROL.search(text):
        raise ValidationError("control characters are not allowed")


def free_text(text: str) -> None:
    if _CONTROL_BUT_LINES.search(text):
        raise ValidationError("control characters other than line breaks are not allowed")


class ZonedDateTime(fields.DateTime):
    """An aware time shown in the publication's zone; read from ISO 8601, where a time without
    an offset is in that zone, and handed to the services in UTC."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        local: datetime = value.astimezone(services().settings.timezone)
        return local.isoformat(timespec="seconds")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        # The one rule of newsletter.localtime (the CLI's and the admin pages' too): a time
        # the zone skips is refused, of a repeated one the first is meant.
        if not isinstance(value, str):
            raise ValidationError("not a time: a string, e.g. 2026-12-11T09:00")
        try:
            return parse_time(value, services().settings.timezone, field=attr or "at")
        except FieldError as exc:
            raise ValidationError(exc.reason) from None
        except OverflowError:  # year 1 or 9999 moved across midnight by the offset
            raise ValidationError("out of range") from None


def _url(*, required: bool = False) -> fields.Url:
    return fields.Url(
        required=required, schemes={"http", "https"}, validate=validate.Length(max=2000)
    )


# -- errors ---------------------------------------------------------------------------------------
class ErrorBodySchema(Schema):
    code = fields.Str(required=True, metadata={"description": "a short machine-readable kind"})
    message = fields.Str(required=True, metadata={"description": "what went wrong, for a person"})
    field = fields.Str(
        required=True,
        allow_none=True,
        metadata={"description": "the request field it is about (a dotted path), or null"},
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


# -- issues ---------------------------------------------------------------------------------------
class CountsSchema(Schema):
    recipients = fields.Int(required=True, metadata={"description": "delivery rows"})
    sent = fields.Int(required=True)
    failed = fields.Int(required=True)
    clicks = fields.Int(required=True, metadata={"description": "first clicks per reader and link"})


class IssueSummarySchema(Schema):
    id = fields.Int(required=True)
    week = fields.Str(required=True, metadata={"example": "2026-W50"})
    status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    subject = fields.Str(required=True)
    scheduled_at = ZonedDateTime(required=True, allow_none=True)
    planned_at = ZonedDateTime(
        required=True, allow_none=True, metadata={"description": "the weekly slot it was built for"}
    )
    sent_at = ZonedDateTime(required=True, allow_none=True)
    approved_by = fields.Str(required=True, allow_none=True)
    held_by = fields.Str(required=True, allow_none=True)
    check_errors = fields.Int(
        required=True,
        allow_none=True,
        metadata={
            "description": "errors of the last pre-flight check of this version (null: not "
            "checked since it changed); a scheduled issue with errors is held at its time"
        },
    )
    counts = fields.Nested(CountsSchema, required=True)


class IssueListSchema(Schema):
    issues = fields.List(fields.Nested(IssueSummarySchema), required=True)


class ItemSchema(Schema):
    review_id = fields.Int(required=True)
    position = fields.Int(required=True, metadata={"description": "1-based, within its section"})
    url = fields.Str(required=True)
    title = fields.Str(required=True)
    category = fields.Str(required=True)
    author = fields.Str(required=True, allow_none=True)
    score = fields.Float(required=True, allow_none=True)
    score_max = fields.Float(required=True, allow_none=True)
    tldr = fields.Str(required=True, allow_none=True)
    pinned = fields.Bool(required=True)
    dropped = fields.Bool(required=True)
    trimmed = fields.Bool(
        required=True, metadata={"description": "dropped by the size guard, not by an editor"}
    )


class SectionSchema(Schema):
    name = fields.Str(required=True, validate=validate.OneOf(SECTIONS))
    items = fields.List(fields.Nested(ItemSchema), required=True)


class SizeSchema(Schema):
    bytes = fields.Int(required=True, metadata={"description": "HTML of the fullest variant"})
    budget = fields.Int(required=True, metadata={"description": "Gmail clips beyond this"})
    over_budget = fields.Bool(required=True)


class OutageSchema(Schema):
    since = ZonedDateTime(required=True)
    until = ZonedDateTime(
        required=True, allow_none=True, metadata={"description": "null: going on"}
    )
    tries = fields.Int(required=True)
    ended = fields.Str(
        required=True,
        allow_none=True,
        metadata={
            "description": "recovered, paused (it lasted NEWSLETTER_SMTP_OUTAGE_PAUSE) or stopped"
        },
    )
    worker = fields.Str(required=True, metadata={"description": "host:pid of the worker"})
    replies = fields.List(
        fields.Str(), required=True, metadata={"description": "what the server said"}
    )


class DeliverySchema(Schema):
    counts = fields.Dict(
        keys=fields.Str(), values=fields.Int(), required=True, metadata={"description": "by state"}
    )
    remaining = fields.Int(required=True)
    rate = fields.Float(required=True, metadata={"description": "messages per second, last minute"})
    eta_seconds = fields.Float(required=True, allow_none=True)
    next_retry_at = ZonedDateTime(required=True, allow_none=True)
    errors = fields.List(fields.Str(), required=True, metadata={"description": "latest first"})
    outages = fields.List(
        fields.Nested(OutageSchema),
        required=True,
        metadata={"description": "the SMTP server failing every message, as each worker met it"},
    )


class IssueDetailSchema(IssueSummarySchema):
    preheader = fields.Str(required=True, allow_none=True)
    intro = fields.Str(required=True)
    status_reason = fields.Str(required=True, allow_none=True)
    approved_at = ZonedDateTime(required=True, allow_none=True)
    held_at = ZonedDateTime(required=True, allow_none=True)
    version = fields.Int(required=True)
    editable = fields.Bool(required=True)
    sections = fields.List(fields.Nested(SectionSchema), required=True)
    size = fields.Nested(SizeSchema, required=True)
    trimmed = fields.List(
        fields.Str(), required=True, metadata={"description": "URLs the size guard dropped"}
    )
    delivery = fields.Nested(DeliverySchema, required=True)


class MoveSchema(Schema):
    url = _url(required=True)
    position = fields.Int(required=True, strict=True, validate=validate.Range(min=1, max=1000))


class OrderSchema(Schema):
    new = fields.List(_url(), validate=validate.Length(max=URLS_MAX))
    trending = fields.List(_url(), validate=validate.Length(max=URLS_MAX))


class IssueEditSchema(Schema):
    subject = fields.Str(
        validate=validate.Length(max=HEADER_MAX),
        metadata={"description": '"" goes back to the automatic subject'},
    )
    preheader = fields.Str(validate=validate.Length(max=HEADER_MAX))
    intro = fields.Str(validate=[validate.Length(max=INTRO_MAX), free_text])
    pins = fields.List(
        _url(),
        validate=validate.Length(max=URLS_MAX),
        metadata={"description": "stored reviews to put in (never trimmed)"},
    )
    drops = fields.List(_url(), validate=validate.Length(max=URLS_MAX))
    moves = fields.List(
        fields.Nested(MoveSchema),
        validate=validate.Length(max=URLS_MAX),
        metadata={"description": "each review to a 1-based position in its section, in turn"},
    )
    order = fields.Nested(
        OrderSchema,
        metadata={
            "description": "a section's reviews in this order, first to last (the ones not "
            "named follow); applied before moves"
        },
    )

    @validates_schema
    def something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("nothing to change: send at least one field")


class TestSendSchema(Schema):
    to = fields.List(fields.Email(), required=True, validate=validate.Length(min=1, max=TO_MAX))


class CopySchema(Schema):
    address = fields.Str(required=True)
    message_id = fields.Str(required=True)
    error = fields.Str(required=True, allow_none=True)


class TestSendResultSchema(Schema):
    copies = fields.List(fields.Nested(CopySchema), required=True)


class ScheduleSchema(Schema):
    at = ZonedDateTime(
        required=True,
        metadata={
            "description": "ISO 8601; without an offset, in the publication's zone",
            "example": "2026-12-11T09:00:00-05:00",
        },
    )


class PreviewQuerySchema(Schema):
    format = fields.Str(load_default="html", validate=validate.OneOf(("html", "text")))
    subscriber = fields.Email(metadata={"description": "as this subscriber gets it"})


class SendResultSchema(Schema):
    issue = fields.Nested(IssueSummarySchema, required=True)
    created = fields.Int(required=True, metadata={"description": "delivery rows created now"})
    queued = fields.Bool(
        required=True, metadata={"description": "handed to workers (else sent in this process)"}
    )


class RetrySchema(Schema):
    temporary = fields.Bool(
        load_default=True, metadata={"description": "rows that failed temporarily"}
    )
    # ("unknown" is a Schema option: the field is named by its data_key)
    unknown_rows = fields.Bool(
        data_key="unknown",
        load_default=True,
        metadata={"description": "rows whose outcome is unknown"},
    )
    emails = fields.List(
        fields.Str(validate=[validate.Length(max=254), one_line]),
        validate=validate.Length(max=1000),
        metadata={"description": "only these recipients (default: every such row)"},
    )


class RetryResultSchema(Schema):
    issue = fields.Nested(IssueSummarySchema, required=True)
    requeued = fields.Int(required=True)


class ReviewFiguresSchema(Schema):
    review_id = fields.Int(required=True)
    title = fields.Str(required=True)
    url = fields.Str(required=True)
    section = fields.Str(required=True, validate=validate.OneOf(SECTIONS))
    position = fields.Int(required=True)
    unique_clicks = fields.Int(required=True)
    clicks = fields.Int(required=True)
    click_rate = fields.Float(required=True)


class ReportSchema(Schema):
    id = fields.Int(required=True, attribute="issue_id")
    week = fields.Str(required=True, attribute="week_key")
    subject = fields.Str(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    started_at = ZonedDateTime(required=True, allow_none=True)
    finished_at = ZonedDateTime(required=True, allow_none=True)
    recipients = fields.Int(required=True)
    delivered = fields.Int(required=True)
    failed = fields.Int(required=True)
    unknown_rows = fields.Int(required=True, data_key="unknown", attribute="unknown")
    pending = fields.Int(required=True)
    skipped = fields.Int(required=True)
    cancelled = fields.Int(required=True)
    bounced_hard = fields.Int(required=True)
    bounced_soft = fields.Int(required=True)
    complained = fields.Int(required=True)
    unsubscribed = fields.Int(required=True)
    opens = fields.Int(required=True, allow_none=True)
    clickers = fields.Int(required=True)
    clicks = fields.Int(required=True)
    reviews = fields.List(fields.Nested(ReviewFiguresSchema), required=True)
    clicks_by_hour = fields.List(fields.Int(), required=True)


# -- subscribers ----------------------------------------------------------------------------------
class SubscriberQuerySchema(Schema):
    email = fields.Str(required=True, validate=[validate.Length(min=1, max=254), one_line])


class SubscriberSchema(Schema):
    email = fields.Str(required=True)
    name = fields.Str(required=True, allow_none=True)
    status = fields.Str(required=True)
    sections = fields.List(fields.Str(), required=True)


class SubscriberListSchema(Schema):
    subscribers = fields.List(fields.Nested(SubscriberSchema), required=True)


class SignUpSchema(Schema):
    # Checked by the services' one address rule (the sign-up form's): it also tidies spaces
    # and case, which marshmallow's Email field would refuse.
    email = fields.Str(
        required=True,
        validate=[validate.Length(max=254), one_line],
        metadata={"format": "email"},
    )
    name = fields.Str(allow_none=True, validate=[validate.Length(max=200), one_line])
    categories = fields.List(
        fields.Str(validate=[validate.Length(max=40), one_line]),
        validate=validate.Length(max=20),
        metadata={"description": "section names; none means every section"},
    )


class SignUpResultSchema(Schema):
    email = fields.Str(required=True)
    outcome = fields.Str(
        required=True, validate=validate.OneOf(("new", "resent", "throttled", "already", "blocked"))
    )
    confirmation = fields.Str(
        required=True,
        validate=validate.OneOf(("queued", "none")),
        metadata={"description": "queued: a confirmation mail goes out after this answer"},
    )
