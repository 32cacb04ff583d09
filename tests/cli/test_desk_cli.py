"""The desk on the command line, as subprocesses: list and show in the publication's zone,
unschedule and edit a scheduled issue, rebuild a cancelled week, hold and approve, the send
confirmation on a terminal, and retry failed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import run
from tests.helpers.env import clean_environ

REVIEWS = """\
{"url": "https://reviews.example.com/moonlit-ferry/", "title": "REVIEW: Moonlit Ferry", "category": "Film", "author": "Jo Park", "published_at": "2026-11-23T10:00:00Z", "score": 8, "score_max": 10, "tldr": "A calm, lovely crossing."}
{"url": "https://reviews.example.com/signal-lost/", "title": "REVIEW: Signal Lost", "category": "Video Games", "author": "Ana Ruiz", "published_at": "2026-11-22T10:00:00Z", "score": 3.5, "score_max": 5, "tldr": "Tense, short, worth it."}
"""  # noqa: E501


@pytest.fixture
def desk(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A database with two reviews, two confirmed readers and this week's draft (issue 1);
    times in Paris."""
    env = {**env, "NEWSLETTER_TIMEZONE": "Europe/Paris"}
    source = tmp_path / "reviews.jsonl"
    source.write_text(REVIEWS, encoding="utf-8")
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    assert run(["ingest", str(source)], tmp_path, **env).returncode == 0
    for email in ("zoe@example.com", "max@example.com"):
        assert run(["subscribers", "add", email, "--confirmed"], tmp_path, **env).returncode == 0
    built = run(["issue", "build", "--now", "2026-11-24T12:00:00Z"], tmp_path, **env)
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == "1"
    return env


def test_list_and_show_speak_the_publication_zone(desk: dict[str, str], tmp_path: Path) -> None:
    scheduled = run(["issue", "send", "1", "--at", "2030-03-01T09:00"], tmp_path, **desk)
    assert scheduled.returncode == 0, scheduled.stderr
    # A time without an offset is Paris time: 09:00 CET is 08:00 UTC.
    assert "scheduled for 2030-03-01 09:00 CET (+01:00)" in scheduled.stdout
    listed = run(["issue", "list"], tmp_path, **desk)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert "WHEN (Europe/Paris)" in header
    assert "2026-W48" in row and "scheduled" in row and "2030-03-01 09:00 CET (+01:00)" in row
    shown = run(["issue", "show", "1"], tmp_path, **desk)
    assert shown.returncode == 0, shown.stderr
    assert "goes out   2030-03-01 09:00 CET (+01:00)" in shown.stdout
    assert "1. [Film] REVIEW: Moonlit Ferry (8/10)" in shown.stdout
    assert "https://reviews.example.com/signal-lost/" in shown.stdout
    assert "KB of 95 KB" in shown.stdout and "fits" in shown.stdout
    # An explicit offset is taken as written.
    utc = run(["issue", "send", "1", "--at", "2030-03-01T09:00:00Z", "--yes"], tmp_path, **desk)
    assert "scheduled for 2030-03-01 10:00 CET (+01:00)" in utc.stdout
    missing = run(["issue", "show", "99"], tmp_path, **desk)
    assert missing.returncode == 2 and "issue 99: no such issue" in missing.stderr


def test_a_time_the_clocks_skip_is_refused(desk: dict[str, str], tmp_path: Path) -> None:
    gap = run(["issue", "send", "1", "--at", "2030-03-31T02:30"], tmp_path, **desk)
    assert gap.returncode == 2
    assert "--at '2030-03-31T02:30': that time does not exist in Europe/Paris" in gap.stderr
    bad = run(["issue", "send", "1", "--at", "next friday"], tmp_path, **desk)
    assert bad.returncode == 2 and "--at 'next friday': expected ISO 8601" in bad.stderr
    assert "draft" in run(["issue", "list"], tmp_path, **desk).stdout  # nothing changed


def test_a_scheduled_issue_is_edited_unscheduled_and_rescheduled(
    desk: dict[str, str], tmp_path: Path
) -> None:
    assert run(["issue", "send", "1", "--at", "2030-03-01T09:00"], tmp_path, **desk).returncode == 0
    edited = run(["issue", "edit", "1", "--intro", "Typo fixed."], tmp_path, **desk)
    assert edited.returncode == 0, edited.stderr
    back = run(["issue", "unschedule", "1"], tmp_path, **desk)
    assert back.returncode == 0 and "back to draft" in back.stdout
    assert " draft " in run(["issue", "list"], tmp_path, **desk).stdout
    again = run(["issue", "unschedule", "1"], tmp_path, **desk)
    assert again.returncode == 1
    assert "only a scheduled issue goes back" in again.stderr


def test_a_cancelled_week_is_built_again_as_a_new_draft(
    desk: dict[str, str], tmp_path: Path
) -> None:
    refused = run(["issue", "build", "--week", "2026-W48", "--again"], tmp_path, **desk)
    assert refused.returncode == 2
    assert "issue 1 of that week is draft; only a cancelled week is built again" in refused.stderr
    assert run(["issue", "send", "1", "--at", "2030-03-01T09:00"], tmp_path, **desk).returncode == 0
    assert run(["issue", "cancel", "1"], tmp_path, **desk).returncode == 0
    same = run(["issue", "build", "--week", "2026-W48"], tmp_path, **desk)
    assert same.stdout.strip() == "1" and "--again' builds a new draft" in same.stderr
    rebuilt = run(
        ["issue", "build", "--week", "2026-W48", "--again", "--now", "2026-11-24T13:00:00Z"],
        tmp_path,
        **desk,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == "2" and "built: 2 new" in rebuilt.stderr
    listed = run(["issue", "list"], tmp_path, **desk).stdout.splitlines()
    assert "    2  2026-W48  draft" in listed[1] and "    1  2026-W48  cancelled" in listed[2]
    twice = run(["issue", "build", "--week", "2026-W48", "--again"], tmp_path, **desk)
    assert twice.returncode == 2 and "issue 2 of that week is draft" in twice.stderr


def test_hold_and_approve(desk: dict[str, str], tmp_path: Path) -> None:
    assert run(["issue", "send", "1", "--at", "2030-03-01T09:00"], tmp_path, **desk).returncode == 0
    held = run(["issue", "hold", "1", "--by", "ed@example.com"], tmp_path, **desk)
    assert held.returncode == 0 and "held by ed@example.com" in held.stdout
    shown = run(["issue", "show", "1"], tmp_path, **desk).stdout
    assert "issue 1 (2026-W48): draft" in shown and "held       by ed@example.com" in shown
    approved = run(["issue", "approve", "1", "--by", "ed@example.com"], tmp_path, **desk)
    # Built by hand (no weekly slot), so the approval leaves scheduling to an operator.
    assert approved.returncode == 0 and "still a draft" in approved.stdout
    assert "approved   by ed@example.com" in run(["issue", "show", "1"], tmp_path, **desk).stdout


def test_send_asks_on_a_terminal_and_yes_skips_it(desk: dict[str, str], tmp_path: Path) -> None:
    def on_terminal(answer: bytes) -> tuple[int, str]:
        controller, terminal = os.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "issue", "send", "1"],
            cwd=tmp_path,
            env=clean_environ(**desk),
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
    assert "draft" in run(["issue", "list"], tmp_path, **desk).stdout  # nothing sent
    code, said = on_terminal(b"y\n")
    assert code == 0, said
    assert "issue 1: 2 new recipients" in said


def test_retry_failed_needs_something_to_retry(desk: dict[str, str], tmp_path: Path) -> None:
    assert run(["issue", "send", "1", "--yes"], tmp_path, **desk).returncode == 0
    nothing = run(["issue", "retry-failed", "1", "--yes"], tmp_path, **desk)
    assert nothing.returncode == 1
    assert "issue 1: no failed or unknown delivery to retry" in nothing.stderr
    neither = run(["issue", "retry-failed", "1", "--no-temporary"], tmp_path, **desk)
    assert neither.returncode == 2 and "nothing to retry" in neither.stderr
