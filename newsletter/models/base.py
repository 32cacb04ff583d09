"""The data model's foundations: the declarative base, UTC timestamps and the enumerations.

Times are stored in UTC through :class:`UTCDateTime` (SQLite has no zone-aware type, so the
value is stored naive-UTC there and made aware again on the way out). Enumerations are stored as
short strings with CHECK constraints, which both databases enforce.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import Date, DateTime, Dialect, Enum, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

URL_LENGTH = 2048
EMAIL_LENGTH = 320  # RFC 3696 errata: 64 + 1 + 255


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_type(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class IssueStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class UserRole(enum.StrEnum):
    """What a staff account may do: editors prepare issues, operators also send them."""

    EDITOR = "editor"
    OPERATOR = "operator"


class Section(enum.StrEnum):
    NEW = "new"
    TRENDING = "trending"


class DeliveryState(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker (or for next_at after a temporary failure)
    SENDING = "sending"  # claimed by a worker under a lease
    SENT = "sent"  # the transport accepted it (2xx)
    FAILED = "failed"  # permanent failure (5xx) or attempts exhausted
    UNKNOWN = "unknown"  # connection lost after DATA's final dot: maybe delivered
    SKIPPED = "skipped"  # no longer eligible at send time (unsubscribed, suppressed)
    CANCELLED = "cancelled"  # the issue was cancelled before this one went out


class SuppressionReason(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    FORGOTTEN = "forgotten"


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), date: Date()}
