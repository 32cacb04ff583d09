"""The fetch deadline covers the whole request, and files are capped like responses.

Against real servers and files: a loopback server that sends one header line (or one body
byte) at a time, ``/dev/zero``, a FIFO nobody writes to, and the command line run as a user
runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.ingest import Fetcher, FetchPolicy, SourceError, read_file
from tests.helpers.env import clean_environ
from tests.helpers.trickle import Trickle

POLICY = FetchPolicy(timeout=0.5, attempts=3, backoff=0.01)  # deadline: 1.5 s an attempt


def test_a_server_trickling_header_lines_is_cut_off_at_the_deadline() -> None:
    with Trickle(lines=100, every=0.2) as server, Fetcher(POLICY) as fetcher:
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"no complete answer within 1\.5 s") as caught:
            fetcher.get(server.url)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"took {elapsed:.1f} s"
    assert server.requests == 1  # a deadline overrun is not retried: it would overrun again
    assert "\n" not in str(caught.value)


def test_a_server_trickling_the_body_is_cut_off_at_the_same_deadline() -> None:
    with Trickle(body_bytes=100, every=0.2) as server, Fetcher(POLICY) as fetcher:
        started = time.monotonic()
        with pytest.raises(SourceError, match="the request's deadline"):
            fetcher.get(server.url)
    assert time.monotonic() - started < 3.0


def _newsletter(
    settings: Settings, args: list[str], timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    # At most 2 GiB of memory, so that reading /dev/zero without a cap fails fast, not the box.
    limited = 'ulimit -v 2097152 && exec "$0" "$@"'
    return subprocess.run(
        ["sh", "-c", limited, sys.executable, "-m", "newsletter", *args],
        env=clean_environ(
            NEWSLETTER_DATABASE_URL=settings.database_url,
            NEWSLETTER_DATA_DIR=str(settings.data_dir),
            NEWSLETTER_SECRET_KEY="k",
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_ingest_of_a_trickling_url_ends_within_the_deadline(
    settings: Settings, engine: Engine
) -> None:
    with Trickle(lines=200, every=0.25) as server:
        started = time.monotonic()
        result = _newsletter(settings, ["ingest", server.url], NEWSLETTER_FETCH_TIMEOUT="1")
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {server.url}: no complete answer within 3 s (the request's deadline)"
    ]
    assert elapsed < 15, f"took {elapsed:.1f} s"


def test_files_are_capped_like_responses(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(SourceError, match="2000 bytes, over the 1000-byte limit"):
        read_file(str(big), max_bytes=1000)
    assert read_file(str(big), max_bytes=2000) == b"x" * 2000
    with pytest.raises(SourceError, match="is a character device, not a regular file"):
        read_file("/dev/zero", max_bytes=1000)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"is a pipe \(FIFO\), not a regular file"):
        read_file(str(fifo))  # nobody writes to it: opening it must not wait for a writer
    assert time.monotonic() - started < 1
    with pytest.raises(SourceError, match="is a folder, not a file"):
        read_file(str(tmp_path))


def test_ingest_dev_zero_is_refused_and_the_other_sources_land(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"url": "https://reviews.example.com/good/", "title": "Good", '
        '"published_at": "2026-11-20T10:00:00Z"}\n',
        encoding="utf-8",
    )
    result = _newsletter(
        settings,
        ["ingest", "/dev/zero", str(good)],
        timeout=60,
        NEWSLETTER_FETCH_MAX_BYTES="100000",
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        "error: /dev/zero: is a character device, not a regular file; copy it to a file"
    ]
    assert f"{good} (jsonl): 1 new" in result.stdout
