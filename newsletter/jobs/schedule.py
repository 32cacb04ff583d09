"""The weekly slot: when, in the publication's zone, this week's issue goes out (pure).

The slot is ``NEWSLETTER_WEEKLY_AT`` (weekday, wall-clock time, IANA zone) in the ISO week of a
moment, computed in that zone every week, so 09:00 stays 09:00 local across DST changes. A
nonexistent local time (the spring-forward gap) resolves the way ``zoneinfo`` does with
``fold=0``: one hour later in UTC terms, which is the usual expectation. With a review window
(``NEWSLETTER_REVIEW_HOURS``) the week's run comes that many hours before its slot.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from newsletter.config import WeeklyAt
from newsletter.issues.weeks import week_key


def weekly_slot(moment: datetime, weekly: WeeklyAt) -> tuple[str, datetime]:
    """(week key, the weekly send time in UTC) of the ISO week ``moment`` falls in, in the
    weekly zone."""
    iso = moment.astimezone(weekly.tz).isocalendar()
    day = date.fromisocalendar(iso.year, iso.week, weekly.weekday + 1)
    at = datetime.combine(day, weekly.at, tzinfo=weekly.tz)
    return week_key(moment, weekly.tz), at.astimezone(moment.tzinfo or weekly.tz)


def next_slot(now: datetime, weekly: WeeklyAt, review: timedelta) -> tuple[str, datetime]:
    """(week key, send time) of the slot a weekly run at ``now`` prepares: the slot of the week
    ``now + review`` falls in (with a review window, the run comes ``review`` early, maybe in
    the week before)."""
    return weekly_slot(now + review, weekly)


def due_slot(
    now: datetime, weekly: WeeklyAt, grace: timedelta, review: timedelta = timedelta(0)
) -> tuple[str, datetime] | None:
    """The weekly slot whose run is due at ``now``: its run time (the slot, ``review``
    earlier) came less than ``grace`` ago. Searches this week's slot and, across a week
    boundary, the ones a week before and after."""
    for moment in (now, now - timedelta(days=7), now + timedelta(days=7)):
        key, at = weekly_slot(moment, weekly)
        if at - review <= now <= at - review + grace:
            return key, at
    return None
