"""Issue weeks: ISO week keys in the publication's zone, and where a week's issue is cut off.

A week key (``2026-W48``) names one issue; it is read in the publication's zone, so an issue
week runs from Monday 00:00 to Sunday 23:59:59 local time whatever the server's clock says.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from newsletter.errors import FieldError

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


def week_key(moment: datetime, tz: ZoneInfo) -> str:
    """The ISO week of ``moment`` in the site's zone, e.g. ``2026-W48``."""
    iso = moment.astimezone(tz).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def week_end(key: str, tz: ZoneInfo) -> datetime:
    """The last instant of an ISO week (Sunday 23:59:59 in the site's zone), in UTC.
    Raises :class:`FieldError` (``week``) for a key that is not one."""
    match = _WEEK.fullmatch(key)
    if not match:
        raise FieldError("week", "expected YYYY-Www, e.g. 2026-W48", shown=repr(key))
    try:
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError as exc:
        raise FieldError("week", str(exc), shown=repr(key)) from exc
    local = datetime.combine(monday + timedelta(days=6), datetime.max.time(), tzinfo=tz)
    return local.replace(microsecond=0).astimezone(UTC)


def resolve_cutoff(now: datetime, week: str | None, tz: ZoneInfo) -> tuple[str, datetime]:
    """(week key, cutoff): ``now``'s week, or the named week cut at its end or at ``now``."""
    if week is None:
        return week_key(now, tz), now
    return week, min(week_end(week, tz), now)
