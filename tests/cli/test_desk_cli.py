"""The desk on the command line: list and show in the publication's zone, unschedule and edit
a scheduled issue, rebuild a cancelled week, hold and approve, retry failed (in this process,
click's runner), and the send confirmation on a real terminal (a subprocess on a pty)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from newsletter.config import Settings
from newsletter.errors import InputError, WorkError
from tests.helpers.cli import run
from tests.helpers.env import clean_environ

REVIEWS = """\
{"url": "https://reviews.example.com/moonlit-ferry/", "title": "REVIEW: Moonlit Ferry", "category": "Film", "author": "Jo Park", "published_at": "2026-11-23T10:00:00Z", "score": 8, "score_max": 10, "tldr": "A calm, lovely crossing."}
{"url": "https://reviews.example.com/signal-lost/", "title": "REVIEW: Signal Lost", "category": "Video Games", "author": "Ana Ruiz", "published_at": "2026-11-22T10:00:00Z", "score": 3.5, "score_max": 5, "tldr": "Tense, short, worth it."}
"""  # noqa: E501
Cli = Callable[..., Result]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Times in Paris (CET, +01:00 in winter)."""
    return settings.with_overrides(publication_zone="Europe/Paris")


@pytest.fixture
def desk(cli: Cli, tmp_path: Path) -> Cli:
    """Two reviews, two confirmed readers and this week's draft (issue 1)."""
    source = tmp_path / "reviews.jsonl"
    source.write_text(REVIEWS, encoding="utf-8")
    assert cli("ingest", str(source)).exit_code == 0
    for email in ("zoe@example.com", "max@example.com"):
        assert cli("subscribers", "add", email, "--confirmed").exit_code == 0
    built = cli("issue", "build", "--now", "2026-11-24T12:00:00Z")
    assert built.stdout.strip() == "1"
    return cli


def test_list_and_show_speak_the_publication_zone(desk: Cli) -> None:
    scheduled = desk("issue", "send", "1", "--at", "2030-03-01T09:00")
    # A time without an offset is Paris time: 09:00 CET is 08:00 UTC.
    assert "scheduled for 2030-03-01 09:00 CET (+01:00)" in scheduled.stdout
    header, row = desk("issue", "list").stdout.splitlines()[:2]
    assert "WHEN (Europe/Paris)" in header
    assert "2026-W48" in row and "scheduled" in row and "2030-03-01 09:00 CET (+01:00)" in row
    shown = desk("issue", "show", "1").stdout
    assert "goes out   2030-03-01 09:00 CET (+01:00)" in shown
    assert "1. [Film] REVIEW: Moonlit Ferry (8/10)" in shown
    assert "https://reviews.example.com/signal-lost/" in shown
    assert "KB of 95 KB" in shown and "fits" in shown
    # An explicit offset is taken as written.
    utc = desk("issue", "send", "1", "--at", "2030-03-01T09:00:00Z", "--yes")
    assert "scheduled for 2030-03-01 10:00 CET (+01:00)" in utc.stdout
    with pytest.raises(InputError, match="issue 99: no such issue"):
        desk("issue", "show", "99")


def test_a_time_the_clocks_skip_or_no_time_is_refused(desk: Cli) -> None:
    with pytest.raises(
        InputError, match="--at '2030-03-31T02:30': that time does not exist in Europe/Paris"
    ):
        desk("issue", "send", "1", "--at", "2030-03-31T02:30")
    with pytest.raises(InputError, match="--at 'next friday': expected ISO 8601"):
        desk("issue", "send", "1", "--at", "next friday")
    assert " draft " in desk("issue", "list").stdout  # nothing changed


def test_a_scheduled_issue_is_edited_unscheduled_and_rescheduled(desk: Cli) -> None:
    desk("issue", "send", "1", "--at", "2030-03-01T09:00")
    assert "issue 1 edited" in desk("issue", "edit", "1", "--intro", "Typo fixed.").stdout
    assert "back to draft" in desk("issue", "unschedule", "1").stdout
    assert " draft " in desk("issue", "list").stdout
    with pytest.raises(WorkError, match="only a scheduled issue goes back"):
        desk("issue", "unschedule", "1")


def test_a_cancelled_week_is_built_again_as_a_new_draft(desk: Cli) -> None:
    again = ("issue", "build", "--week", "2026-W48", "--again", "--now", "2026-11-24T13:00:00Z")
    with pytest.raises(
        InputError, match="issue 1 of that week is draft; only a cancelled week is built again"
    ):
        desk(*again)
    desk("issue", "send", "1", "--at", "2030-03-01T09:00")
    desk("issue", "cancel", "1")
    same = desk("issue", "build", "--week", "2026-W48")
    assert same.stdout.strip() == "1" and "--again' builds a new draft" in same.stderr
    rebuilt = desk(*again)
    assert rebuilt.stdout.strip() == "2" and "built: 2 new" in rebuilt.stderr
    listed = desk("issue", "list").stdout.splitlines()
    assert "    2  2026-W48  draft" in listed[1] and "    1  2026-W48  cancelled" in listed[2]
    with pytest.raises(InputError, match="issue 2 of that week is draft"):
        desk(*again)


def test_hold_and_approve(desk: Cli) -> None:
    desk("issue", "send", "1", "--at", "2030-03-01T09:00")
    assert "held by ed@example.com" in desk("issue", "hold", "1", "--by", "ed@example.com").stdout
    shown = desk("issue", "show", "1").stdout
    assert "issue 1 (2026-W48): draft" in shown and "held       by ed@example.com" in shown
    approved = desk("issue", "approve", "1", "--by", "ed@example.com")
    # Built by hand (no weekly slot), so the approval leaves scheduling to an operator.
    assert "still a draft" in approved.stdout
    assert "approved   by ed@example.com" in desk("issue", "show", "1").stdout


def test_retry_failed_needs_something_to_retry(desk: Cli) -> None:
    desk("issue", "send", "1", "--yes")
    with pytest.raises(WorkError, match="issue 1: no failed or unknown delivery to retry"):
        desk("issue", "retry-failed", "1", "--yes")
    with pytest.raises(InputError, match="nothing to retry"):
        desk("issue", "retry-failed", "1", "--no-temporary")


@pytest.fixture
def terminal_desk(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The same database for a subprocess: the confirmation is about a real terminal."""
    source = tmp_path / "reviews.jsonl"
    source.write_text(REVIEWS, encoding="utf-8")
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    assert run(["ingest", str(source)], tmp_path, **env).returncode == 0
    for email in ("zoe@example.com", "max@example.com"):
        assert run(["subscribers", "add", email, "--confirmed"], tmp_path, **env).returncode == 0
    built = run(["issue", "build", "--now", "2026-11-24T12:00:00Z"], tmp_path, **env)
    assert built.stdout.strip() == "1", built.stderr
    return env


def test_send_asks_on_a_terminal_and_yes_skips_it(
    terminal_desk: dict[str, str], tmp_path: Path
) -> None:
    def on_terminal(answer: bytes) -> tuple[int, str]:
        controller, terminal = os.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "issue", "send", "1"],
            cwd=tmp_path,
            env=clean_environ(**terminal_desk),
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
        )
        os.close(terminal)
        out = b""
        deadline = time.monotonic() + 60
        while b"Send it?" not in out and time.monotonic() < deadline:
            out += os.read(controller, 4096)
        os.write(controller, answer)
        code = process.wait(timeout=60)
        try:
            while chunk := os.read(controller, 4096):
                out += chunk
        except OSError:  # the terminal closed with the process
            pass
        os.close(controller)
        return code, out.decode()

    code, said = on_terminal(b"n\n")
    assert code == 1
    assert "goes now to 2 recipient(s)." in said
    assert "draft" in run(["issue", "list"], tmp_path, **terminal_desk).stdout  # nothing sent
    code, said = on_terminal(b"y\n")
    assert code == 0, said
    assert "issue 1: 2 new recipients" in said
