"""``newsletter issue send`` as an operator runs it, interrupted or with its broker down.

Ctrl+C (SIGINT) or SIGTERM during an in-process send: the command finishes the message in
flight, hands the rest back (no row stays ``sending``) and exits 130 or 143 with one line;
``issue send`` again delivers the rest, each recipient exactly once (counted by a loopback
SMTP server). A broker at a closed port: one line naming it (without its password) and the
reason, exit 1 within seconds, and the draft unchanged.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import run
from tests.helpers.env import FIXTURES, clean_environ, free_port
from tests.helpers.smtp import Recorder, serving

READERS = [f"reader{i:03d}@example.com" for i in range(120)]


class Slow(Recorder):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.03)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def draft(tmp_path: Path, env: dict[str, str]) -> str:
    """A built issue for :data:`READERS`, all confirmed; returns its id."""
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    assert run(["ingest", str(FIXTURES / "exports/quirks.jsonl")], tmp_path, **env).returncode == 0
    people = tmp_path / "readers.csv"
    people.write_text("email\n" + "\n".join(READERS) + "\n")
    imported = run(["subscribers", "import", str(people), "--confirmed"], tmp_path, **env)
    assert imported.returncode == 0, imported.stderr
    built = run(["issue", "build", "--now", "2026-11-24T12:00:00Z"], tmp_path, **env)
    assert built.returncode == 0, built.stderr
    return built.stdout.strip()


@pytest.fixture
def smtp() -> Iterator[tuple[Slow, int]]:
    handler = Slow()
    with serving(handler) as port:
        yield handler, port


def _counts(status: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in status.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_send_hands_the_rows_back_and_a_resend_finishes(
    sig: signal.Signals,
    tmp_path: Path,
    env: dict[str, str],
    draft: str,
    smtp: tuple[Slow, int],
) -> None:
    recorder, port = smtp
    env = {**env, "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{port}", "NEWSLETTER_BATCH_SIZE": "50"}
    sending = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "issue", "send", draft],
        cwd=tmp_path,
        env=clean_environ(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(recorder.messages) < 10:  # well into the first batch of 50
        assert sending.poll() is None and time.monotonic() < deadline, sending.communicate()
        time.sleep(0.01)
    sending.send_signal(sig)
    out, err = sending.communicate(timeout=30)
    assert sending.returncode == 128 + sig, (out, err)
    assert err.strip().count("\n") == 0, err  # one line
    assert f"stopped by {sig.name}: the messages not yet sent went back to the queue" in err
    status = run(["issue", "status", draft], tmp_path, **env)
    counts = _counts(status.stdout)
    assert counts["sending"] == 0, status.stdout  # nothing waits for a lease
    assert counts["sent"] == len(recorder.messages) < len(READERS)
    assert counts["queued"] == len(READERS) - counts["sent"]
    again = run(["issue", "send", draft], tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert "sent; " in again.stdout and f"{len(READERS)} sent" in again.stdout
    received = Counter(recorder.recipients)
    assert sorted(received) == READERS and set(received.values()) == {1}  # exactly once


def test_a_broker_that_cannot_be_reached_is_one_line_and_changes_nothing(
    tmp_path: Path, env: dict[str, str], draft: str
) -> None:
    port = free_port()  # nobody listens there
    env = {**env, "NEWSLETTER_BROKER_URL": f"redis://:hunter2@127.0.0.1:{port}/0"}
    started = time.monotonic()
    sent = run(["issue", "send", draft], tmp_path, **env)
    took = time.monotonic() - started
    assert sent.returncode == 1
    assert sent.stderr.count("\n") == 1, sent.stderr  # one line, no traceback
    assert sent.stderr.startswith(
        f"newsletter: error: issue {draft}: broker redis://:***@127.0.0.1:{port}/0: "
        "cannot queue work: Error 111 connecting to"
    )
    assert "Connection refused; nothing was changed" in sent.stderr
    assert "hunter2" not in sent.stderr
    assert took < 15  # the command's own start-up included
    status = run(["issue", "status", draft], tmp_path, **env)
    assert f"issue {draft} (2026-W48): draft" in status.stdout  # still a sendable draft
