"""The data model (SQLAlchemy 2.0 typed declarative), shared by SQLite and PostgreSQL.

One module per part of the pipeline: :mod:`~newsletter.models.content` (reviews and their
metrics), :mod:`~newsletter.models.issues`, :mod:`~newsletter.models.people` (subscribers and
suppressions), :mod:`~newsletter.models.staff` (editors, operators, API tokens),
:mod:`~newsletter.models.checks` (what the pre-flight check found),
:mod:`~newsletter.models.delivery` (deliveries and what comes back of them), on
the foundations of :mod:`~newsletter.models.base`. The schema itself is created by the Alembic
migrations in ``newsletter/migrations``; the models must stay in step with them (a test
compares the two).
"""

from __future__ import annotations

from newsletter.models.base import (
    EMAIL_LENGTH,
    URL_LENGTH,
    Base,
    DeliveryState,
    IssueStatus,
    Section,
    SubscriberStatus,
    SuppressionReason,
    UserRole,
    UTCDateTime,
    utcnow,
)
from newsletter.models.checks import IssueCheck, LinkCheck
from newsletter.models.content import FetchState, Review, ReviewMetric, ReviewSource
from newsletter.models.delivery import (
    BounceReport,
    Delivery,
    DeliveryOpen,
    Event,
    IssueLink,
    LinkClick,
)
from newsletter.models.issues import Issue, IssueItem, IssueVariant, WeeklyRun
from newsletter.models.people import Subscriber, Suppression
from newsletter.models.staff import ApiToken, User

__all__ = [
    "EMAIL_LENGTH",
    "URL_LENGTH",
    "ApiToken",
    "Base",
    "BounceReport",
    "Delivery",
    "DeliveryOpen",
    "DeliveryState",
    "Event",
    "FetchState",
    "Issue",
    "IssueCheck",
    "IssueItem",
    "IssueLink",
    "IssueStatus",
    "IssueVariant",
    "LinkCheck",
    "LinkClick",
    "Review",
    "ReviewMetric",
    "ReviewSource",
    "Section",
    "Subscriber",
    "SubscriberStatus",
    "Suppression",
    "SuppressionReason",
    "UTCDateTime",
    "User",
    "UserRole",
    "WeeklyRun",
    "utcnow",
]
