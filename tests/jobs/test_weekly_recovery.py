"""A hostile source never stops the weekly job, and a failed or killed run is run again.

On the configured database (SQLite, and PostgreSQL in CI): the job itself with a nested JSON
file and a JSONL record carrying a NUL among its sources; a run that raised (a failure injected
into the build, as a database outage would); a ``newsletter weekly`` process killed with
SIGKILL in the middle of a fetch, taken over by the next run and by the tick.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.ingest.store import store_reviews
from newsletter.issues.build import build_issue
from newsletter.jobs import weekly as weekly_module
from newsletter.jobs.tick import tick
from newsletter.jobs.weekly import run_weekly
from newsletter.models import Review, WeeklyRun
from tests.helpers.env import clean_environ
from tests.helpers.factories import NOW, inline_dispatcher, review, subscriber
from tests.helpers.httpsite import Answer, Site

SITE = "https://reviews.example.com/"


def _jsonl(path: Path, slug: str, title: str) -> str:
    record = {"url": f"{SITE}{slug}/", "title": title, "published_at": "2026-11-26T10:00:00Z"}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests are about the slot itself: no review window (NEWSLETTER_REVIEW_HOURS=0,
    build and send together); tests/jobs/test_review_window.py has the window."""
    return settings.with_overrides(review_hours=0)


@pytest.fixture
def sources(tmp_path: Path) -> tuple[str, ...]:
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    return (
        str(nested),
        _jsonl(tmp_path / "nul.jsonl", "nul", "REVIEW: Null\u0000 Island"),
        _jsonl(tmp_path / "good.jsonl", "good", "REVIEW: Good"),
    )


@pytest.fixture
def readers(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        for n in range(3):
            subscriber(session, f"r{n}@example.com")


def _run(factory: sessionmaker[Session], key: str) -> WeeklyRun:
    with factory() as session:
        run = session.get(WeeklyRun, key)
        assert run is not None
        return run


def test_a_hostile_source_fails_alone_and_the_week_still_goes_out(
    factory: sessionmaker[Session], settings: Settings, readers: None, sources: tuple[str, ...]
) -> None:
    dispatcher, transport = inline_dispatcher(factory, settings)
    report = run_weekly(factory, replace(settings, sources=sources), dispatcher, NOW)
    assert report.ran and report.state == "done" and report.failed
    assert report.ingest_errors == [f"{sources[0]}: unusable JSON: nested too deeply"]
    assert report.outcome == f"issue {report.issue_id} sending to 3 recipients; 1 source failed"
    assert len(transport.recipients) == 3
    with factory() as session:
        titles = sorted(session.scalars(select(Review.title)))
    assert titles == ["REVIEW: Good", "REVIEW: Null Island"]
    run = _run(factory, report.week_key)
    assert (run.failed, run.attempts, run.finished_at is not None) == (False, 1, True)


def _fail_builds(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """The next ``times`` builds raise what a database outage would; returns the call log."""
    calls: list[int] = []
    real = build_issue

    def build(session: Session, settings: Settings, *, now: datetime, week: str) -> object:
        calls.append(1)
        if len(calls) <= times:
            raise ConnectionResetError("server closed the connection unexpectedly\nDETAIL: x")
        return real(session, settings, now=now, week=week)

    monkeypatch.setattr(weekly_module, "build_issue", build)
    return calls


def test_a_failed_run_is_recorded_and_retry_runs_it_at_once(
    factory: sessionmaker[Session],
    settings: Settings,
    readers: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with transaction(factory) as session:
        store_reviews(session, [review("a", "Film")], now=NOW)
    _fail_builds(monkeypatch, times=1)
    dispatcher, transport = inline_dispatcher(factory, settings)
    failed = run_weekly(factory, settings, dispatcher, NOW)
    reason = "ConnectionResetError: server closed the connection unexpectedly"
    assert (failed.ran, failed.state, failed.outcome) == (True, "failed", f"failed: {reason}")
    run = _run(factory, failed.week_key)
    assert (run.failed, run.finished_at is not None, run.outcome) == (
        True,
        True,
        f"failed: {reason}",
    )
    # without --retry a failed week is left alone and says so (the tick retries it by itself)
    again = run_weekly(factory, settings, dispatcher, NOW + timedelta(seconds=5))
    assert (again.ran, again.state) == (False, "failed")
    assert again.outcome == f"attempt 1 failed: {reason}"
    retried = run_weekly(factory, settings, dispatcher, NOW + timedelta(seconds=10), retry=True)
    assert retried.ran and retried.state == "done"
    assert retried.outcome == f"issue {retried.issue_id} sending to 3 recipients"
    assert len(transport.recipients) == 3
    run = _run(factory, failed.week_key)
    assert (run.failed, run.attempts, run.issue_id) == (False, 2, retried.issue_id)
    # a finished week runs again only when asked, and sends nobody anything twice
    rerun = run_weekly(factory, settings, dispatcher, NOW + timedelta(minutes=1), retry=True)
    assert rerun.outcome == f"issue {retried.issue_id} already sent"
    assert len(transport.recipients) == 3


def test_the_tick_runs_a_failed_week_again_backing_off(
    factory: sessionmaker[Session],
    settings: Settings,
    readers: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with transaction(factory) as session:
        store_reviews(session, [review("a", "Film")], now=NOW)
    calls = _fail_builds(monkeypatch, times=2)
    dispatcher, transport = inline_dispatcher(factory, settings)
    minute = timedelta(minutes=1)
    first = tick(factory, settings, dispatcher, NOW)
    assert first.weekly is not None and first.weekly.state == "failed"
    second = tick(factory, settings, dispatcher, NOW + minute)  # the next tick: at once
    assert second.weekly is not None and second.weekly.state == "failed"
    assert tick(factory, settings, dispatcher, NOW + 2 * minute).weekly is None  # pausing 2 min
    third = tick(factory, settings, dispatcher, NOW + 3 * minute)
    assert third.weekly is not None and third.weekly.state == "done"
    assert len(calls) == 3 and len(transport.recipients) == 3
    assert tick(factory, settings, dispatcher, NOW + 10 * minute).weekly is None  # done is done
    assert _run(factory, third.weekly.week_key).attempts == 3


def test_a_running_week_is_left_alone_even_by_retry(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(factory) as session:
        session.add(WeeklyRun(week_key="2026-W48", started_at=NOW, heartbeat_at=NOW))
    dispatcher, _ = inline_dispatcher(factory, settings)
    later = NOW + timedelta(seconds=30)
    report = run_weekly(factory, settings, dispatcher, later, retry=True)
    assert (report.ran, report.state) == (False, "running")
    assert report.outcome == (
        "in progress since 2026-11-27 15:00 UTC (attempt 1, last sign of life 30 s ago)"
    )
    assert tick(factory, settings, dispatcher, later).weekly is None


def test_the_heartbeat_moves_while_a_slow_fetch_holds_the_run(
    factory: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weekly_module, "HEARTBEAT", 0.1)
    site = Site().start()
    site.routes["/feed/"] = lambda _r: Answer(200, {"Content-Type": "text/plain"}, delay=1.0)
    try:
        slow = replace(settings, sources=(f"{site.url}/feed/",))
        dispatcher, _ = inline_dispatcher(factory, settings)
        started = time.monotonic()
        report = run_weekly(factory, slow, dispatcher, NOW)
        assert time.monotonic() - started >= 1.0
    finally:
        site.stop()
    run = _run(factory, report.week_key)
    assert run.heartbeat_at is not None and run.heartbeat_at >= NOW + timedelta(seconds=1)


def _weekly_process(settings: Settings, *args: str, source: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", *args],
        env=clean_environ(
            NEWSLETTER_DATABASE_URL=settings.database_url,
            NEWSLETTER_DATA_DIR=str(settings.data_dir),
            NEWSLETTER_SECRET_KEY="k",
            NEWSLETTER_SOURCES=source,
            NEWSLETTER_FETCH_TIMEOUT="30",
            NEWSLETTER_REVIEW_HOURS="0",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_weekly_process_is_taken_over(
    factory: sessionmaker[Session], settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """SIGKILL in the middle of a fetch leaves the run unfinished; within the silence bound
    it is running (nobody doubles it), after it the next weekly run or tick takes it over."""
    with transaction(factory) as session:
        store_reviews(session, [review("a", "Film")], now=NOW)
        subscriber(session, "r@example.com")
    site = Site().start()
    site.routes["/feed/"] = lambda _r: Answer(200, {"Content-Type": "text/plain"}, delay=60)
    at = NOW.isoformat()
    try:
        victim = _weekly_process(settings, "weekly", "--now", at, source=f"{site.url}/feed/")
        deadline = time.monotonic() + 30
        while not site.hits("/feed/") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert site.hits("/feed/"), "the weekly process never fetched its source"
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=10)
    finally:
        site.stop()
    good = _jsonl(tmp_path / "good.jsonl", "good", "REVIEW: Good")
    soon = _weekly_process(
        settings, "weekly", "--now", (NOW + timedelta(seconds=20)).isoformat(), source=good
    )
    out, _ = soon.communicate(timeout=60)
    assert soon.returncode == 0
    assert "in progress since 2026-11-27 15:00 UTC (attempt 1" in out and "nothing done" in out
    later = (NOW + weekly_module.SILENCE + timedelta(seconds=1)).isoformat()
    ticked = _weekly_process(settings, "tick", "--now", later, source=good)
    out, err = ticked.communicate(timeout=60)
    assert ticked.returncode == 0, err
    assert "weekly 2026-W48: issue 1 sending to 1 recipients" in out
    run = _run(factory, "2026-W48")
    assert (run.attempts, run.failed, run.issue_id) == (2, False, 1)


def test_weekly_on_the_command_line_exits_1_and_retry_runs_it_again(
    settings: Settings, engine: Engine, factory: sessionmaker[Session], sources: tuple[str, ...]
) -> None:
    with transaction(factory) as session:
        subscriber(session, "r@example.com")
    at = ("--now", NOW.isoformat())
    first = _weekly_process(settings, "weekly", *at, source=",".join(sources))
    out, err = first.communicate(timeout=60)
    assert first.returncode == 1
    assert err.splitlines() == [f"ingest error: {sources[0]}: unusable JSON: nested too deeply"]
    assert out == "week 2026-W48: issue 1 sending to 1 recipients; 1 source failed\n"
    again = _weekly_process(settings, "weekly", *at, source=sources[2])
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0
    assert out.startswith("week 2026-W48: already run (issue 1 sending")
    assert out.endswith("nothing done (--retry runs it again)\n")
    retried = _weekly_process(settings, "weekly", "--retry", *at, source=sources[2])
    out, err = retried.communicate(timeout=60)
    assert retried.returncode == 0, err
    assert out == "week 2026-W48: issue 1 already sent\n"


def test_of_several_runs_taking_over_a_dead_week_exactly_one_wins(
    factory: sessionmaker[Session], settings: Settings, readers: None
) -> None:
    with transaction(factory) as session:
        store_reviews(session, [review("a", "Film")], now=NOW)
        session.add(WeeklyRun(week_key="2026-W48", started_at=NOW, heartbeat_at=NOW))
    dispatcher, transport = inline_dispatcher(factory, settings)
    later = NOW + weekly_module.SILENCE + timedelta(seconds=1)
    reports = []

    def take_over() -> None:
        reports.append(run_weekly(factory, settings, dispatcher, later))

    threads = [threading.Thread(target=take_over) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.ran for r in reports) == [False, False, True]
    assert len(transport.recipients) == 3
    assert _run(factory, "2026-W48").attempts == 2
