"""``newsletter issue report ID [--csv]``: the figures of a real send with a real click, times
in the publication's zone, the CSV with formulas neutralised, and an unknown issue's exit."""

from __future__ import annotations

import csv
import email
import io
import re
from collections.abc import Callable
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.mail.memory import MemoryTransport
from newsletter.services import Context, feedback
from tests.helpers.cli import run
from tests.helpers.factories import issue_with, review, send_now

Cli = Callable[..., Result]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(publication_zone="America/New_York")


def _sent(factory: sessionmaker[Session], settings: Settings) -> int:
    records = [review("dune", "Film"), replace(review("heat", "Film", 2), title="=1+1 Heat")]
    emails = ["ann@example.com", "bob@example.com"]
    issue_id = issue_with(factory, settings, records, emails)
    transport = MemoryTransport()
    send_now(factory, settings, issue_id, transport)
    message = email.message_from_bytes(transport.sent[0][1], policy=policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    assert text is not None
    link = re.search(r"https://news\.example\.org/c/([^/\s]+)/([^\s)]+)", text.get_content())
    assert link is not None
    feedback.follow_link(Context(settings, factory), link.group(1), link.group(2))
    return issue_id


def test_the_report_in_words(cli: Cli, factory: sessionmaker[Session], settings: Settings) -> None:
    issue_id = _sent(factory, settings)
    done = cli("issue", "report", str(issue_id))
    assert done.exit_code == 0, done.output
    out = done.output
    assert f"issue {issue_id} for 2026-W48 (sent)" in out
    assert re.search(r"send started 20\d\d-\d\d-\d\d \d\d:\d\d E[SD]T \(-0[45]:00\)", out)
    assert "recipients    2" in out and "delivered     2 (100.0%)" in out
    assert "bounced       0 hard, 0 soft" in out
    assert "opens         not tracked" in out
    assert "clicks        1 by 1 reader(s)" in out
    assert "=1+1 Heat" in out  # a terminal runs no formulas: shown as written
    assert "0h 1" in out


def test_the_csv(cli: Cli, factory: sessionmaker[Session], settings: Settings) -> None:
    issue_id = _sent(factory, settings)
    done = cli("issue", "report", str(issue_id), "--csv")
    assert done.exit_code == 0, done.output
    rows = list(csv.reader(io.StringIO(done.output, newline="")))
    assert rows[0] == [
        "section",
        "position",
        "title",
        "url",
        "unique_clicks",
        "clicks",
        "click_rate",
    ]
    assert [row[2] for row in rows[1:]] == ["REVIEW: Dune", "'=1+1 Heat"]
    assert sum(int(row[4]) for row in rows[1:]) == 1


def test_an_unknown_issue_exits_2(env: dict[str, str], tmp_path: Path) -> None:
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    done = run(["issue", "report", "999"], tmp_path, **env)
    assert done.returncode == 2
    assert "issue 999: no such issue" in done.stderr
    bad = run(["issue", "report", "x"], tmp_path, **env)
    assert bad.returncode == 2 and "ISSUE_ID" in bad.stderr
