"""Times as people read and write them: in the publication's zone, with its offset.

Every time is stored in UTC. The faces show it in ``settings.timezone`` (NEWSLETTER_TIMEZONE)
with the zone's abbreviation and offset, ``2026-12-11 09:00 EST (-05:00)``, so nobody guesses
which 09:00 is meant; and they read a time without an offset (``2026-12-11T09:00``, what a
``datetime-local`` picker sends) in that zone, a time with one (``...Z``, ``+01:00``) as written.
A wall-clock time the zone skips (the spring-forward hour) is refused rather than moved; of a
repeated hour (autumn) the first is meant, as calendars do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from newsletter.errors import FieldError


def offset(at: datetime) -> str:
    """``-05:00`` for an aware time."""
    delta = at.utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def local_text(at: datetime | None, tz: ZoneInfo, empty: str = "-") -> str:
    """``2026-12-11 09:00 EST (-05:00)``: ``at`` in ``tz`` (a naive ``at`` is UTC)."""
    if at is None:
        return empty
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    here = at.astimezone(tz)
    return f"{here:%Y-%m-%d %H:%M} {here.tzname()} ({offset(here)})"


def parse_time(text: str, tz: ZoneInfo, field: str = "send_at") -> datetime:
    """An ISO 8601 time as UTC; without an offset it is a wall-clock time in ``tz``.
    :class:`FieldError` naming ``field`` for an empty or malformed value, or a time ``tz``
    skips."""
    value = text.strip()
    if not value:
        raise FieldError(field, "a date and time are needed", code="missing")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FieldError(
            field,
            "not an ISO 8601 time, e.g. 2026-12-11T09:00 (in the publication's zone) or "
            "2026-12-11T14:00Z",
            shown=repr(value[:40]),
            code="format",
        ) from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    at = parsed.replace(tzinfo=tz).astimezone(UTC)
    if at.astimezone(tz).replace(tzinfo=None) != parsed:
        raise FieldError(
            field,
            f"that time does not exist in {tz.key} (the clocks skip it)",
            shown=value,
            code="nonexistent",
        )
    return at
