"""Times and counts as the admin pages show them, and a time picker's value read back.

Every time is stored in UTC and shown in the publication's zone (``settings.timezone``,
NEWSLETTER_TIMEZONE) with its abbreviation and offset, e.g. ``2026-12-11 09:00 EST (-05:00)``:
an editor in another zone, or a zone change in March, never has to guess which 09:00 is meant.
A ``<input type="datetime-local">`` sends a wall-clock time with no zone; :func:`parse_local`
reads it in the publication's zone, refusing the hour that a DST change skips.

The template filters (``local_time``, ``zone_label``, ``duration``, ``count``) are installed on
the admin blueprint by :func:`install`, for every admin page to share.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint

from newsletter import localtime


def zone() -> ZoneInfo:
    """The publication's zone, from the app serving this request."""
    from newsletter.web import services  # the app's context, at call time

    return services().settings.timezone


def local_time(at: datetime | None, where: ZoneInfo | None = None, empty: str = "—") -> str:
    """``2026-12-11 09:00 EST (-05:00)`` in ``where`` (default: the publication's zone)."""
    return localtime.local_text(at, where or zone(), empty)


def picker_value(at: datetime | None, where: ZoneInfo | None = None) -> str:
    """A UTC time as a ``datetime-local`` value in the zone (``2026-12-11T09:00``)."""
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return f"{at.astimezone(where or zone()):%Y-%m-%dT%H:%M}"


def zone_label(at: datetime | None = None, where: ZoneInfo | None = None) -> str:
    """``America/New_York, now EST (-05:00)``: the zone's name and its offset at ``at``
    (default: now), shown next to a time picker."""
    place = where or zone()
    here = (at or datetime.now(UTC)).astimezone(place)
    return f"{place.key}, {here.tzname()} ({localtime.offset(here)})"


def parse_local(text: str, where: ZoneInfo, field: str = "send_at") -> datetime:
    """A picker's wall-clock value read in ``where``, as a UTC time (:func:`newsletter.
    localtime.parse_time`: :class:`FieldError` naming ``field`` for an empty or malformed value,
    or a time the zone skips; of a repeated hour, the first)."""
    return localtime.parse_time(text, where, field)


def duration(seconds: float | None) -> str:
    """``about 4 min``, ``about 1 h 20 min``, ``under a minute``; ``—`` for None."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"about {rest} min"
    return f"about {hours} h {rest} min" if rest else f"about {hours} h"


def count(number: int) -> str:
    """``12,345``."""
    return f"{number:,}"


def install(blueprint: Blueprint) -> None:
    """The filters above, for every template of the app (registered with ``blueprint``)."""
    blueprint.add_app_template_filter(local_time, "local_time")
    blueprint.add_app_template_filter(picker_value, "picker_value")
    blueprint.add_app_template_filter(duration, "duration")
    blueprint.add_app_template_filter(count, "count")
    blueprint.add_app_template_global(zone_label, "zone_label")
