"""Fault 7: two ``celery beat`` processes (a second one started by mistake, or two hosts that
both run beat) and an operator's ``newsletter weekly``, all at the weekly slot.

Promise: one issue for the week and one send: every reader gets it once. The week's run is a
row keyed by the week (``weekly_runs``): whoever inserts it first runs the week; the others
read that it ran. Each beat sends the minute tick to the workers, which run it concurrently.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter.models import Issue, IssueStatus, WeeklyRun, utcnow
from tests.helpers.fault_rig import Rig

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TICK = "Sending due task newsletter-tick"


def test_two_beats_and_a_manual_weekly_make_one_issue_and_one_send(rig: Rig) -> None:
    now = utcnow()
    slot = now - timedelta(minutes=2)  # the slot has just passed: the week is due now
    source = rig.folder / "reviews.jsonl"
    lines = [
        {
            "url": f"https://reviews.example.com/{slug}/",
            "title": f"REVIEW: {slug.title()}",
            "category": category,
            "published_at": (now - timedelta(days=1)).isoformat(),
            "tldr": f"The short of {slug}.",
        }
        for slug, category in (("tides", "Film"), ("lanterns", "Anime"))
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rig.settings = rig.settings.with_overrides(
        weekly_at=f"{DAYS[slot.weekday()]} {slot:%H:%M} UTC",
        review_hours=0,
        sources=str(source),
        preflight="off",  # the race is the point here; tests/preflight has the check
    )
    emails = rig.readers()
    rig.start_workers(2)
    beats = [
        rig.spawn(
            f"beat{n}",
            "celery",
            "-A",
            "worker",
            "beat",
            "--loglevel=INFO",
            "-s",
            str(rig.folder / f"beat{n}-schedule"),
        )
        for n in (1, 2)
    ]
    # Beat sends its first tick a minute after it starts; the operator's weekly run starts
    # the moment the first beat sends its tick, so all three meet the slot together.
    rig.wait_for(
        lambda: any(TICK in rig.log(f"beat{n}").read_text() for n in (1, 2)),
        90,
        "a beat's first tick",
        every=0.02,
    )
    started = time.monotonic()
    manual = rig.newsletter("weekly")
    rig.wait_for(
        lambda: all(TICK in rig.log(f"beat{n}").read_text() for n in (1, 2)),
        30,
        "both beats' ticks",
    )
    assert all(beat.poll() is None for beat in beats), rig.tails()

    def sent() -> bool:
        with rig.factory() as session:
            return bool(
                session.scalar(select(func.count()).where(Issue.status == IssueStatus.SENT))
            )

    rig.wait_for(sent, 120, "the week's issue to be sent")
    ended = time.monotonic()
    time.sleep(3)  # long enough for a second send to show, had one started
    with rig.factory() as session:
        issues = session.scalars(select(Issue)).all()
        runs = session.scalars(select(WeeklyRun)).all()
    result = rig.outcome(
        "7. two beats and a manual weekly",
        emails,
        started,
        ended,
        f"{len(issues)} issue, {len(runs)} weekly run; the manual run said: "
        f"{manual.strip().splitlines()[-1] if manual.strip() else '(nothing)'}",
    )
    assert len(issues) == 1 and len(runs) == 1
    assert result.lost == 0 and result.duplicates == 0
