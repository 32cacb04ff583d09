"""The whole application as processes, for browser journeys: ``newsletter serve``, two Celery
workers on Redis, and an aiosmtpd capture server on loopback as ``NEWSLETTER_SMTP_URL``.

:func:`running_stack` starts them on a database the caller has prepared (see
:func:`fresh_database`) and stops them afterwards; :class:`Capture` is the capture server's
handler, which the test steers while the stack runs (answer 451 to an address until told
otherwise, take a while over each message so that a send lasts long enough to watch).
The last section drives pages in Chromium: photographs at desktop and phone width that check
the page fits and its policy blocked nothing (:func:`shoot`), and waiting on a page that its
own script reloads (:func:`until`).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import text

from newsletter.config import Settings
from newsletter.db import HEAD_REVISION, current_revision, make_engine, session_factory, upgrade
from newsletter.models import Base
from newsletter.services import Context
from tests.helpers.env import clean_environ, free_port
from tests.helpers.smtp import Recorder, serving
from tests.helpers.workers import start_worker, stop, tails, wait_ready

# Redis database of the journeys' broker: tests/conftest.py's workers use 15, the demo's
# settings 0 and 1; a database of its own means no other test's flushdb() empties our queue.
STACK_REDIS_URL = "redis://127.0.0.1:6379/13"
WORKERS = 2


class Capture(Recorder):
    """The capture server's handler: records every message (:class:`Recorder`); answers
    ``451`` at RCPT TO for each address in :attr:`deferred` (until the test removes it), and
    waits :attr:`delay` seconds in each DATA (a send of a few dozen messages then lasts long
    enough to pause and to watch)."""

    def __init__(self) -> None:
        super().__init__()
        self.deferred: set[str] = set()
        self.delay = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.deferred:
            return "451 4.2.0 mailbox busy, try again later"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages received for ``address``, parsed."""
        return [
            message_from_bytes(raw, policy=policy.default)
            for _, rcpts, raw in list(self.messages)
            if address in rcpts
        ]


@dataclass
class Stack:
    """A running stack: the site's ``base`` URL, the settings every process runs with, the
    service layer over the same database (for the test's own reads and setup), and the
    capture server's handler."""

    base: str
    settings: Settings
    ctx: Context
    capture: Capture
    logs: list[Path] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def log_tails(self) -> str:
        return tails(self.logs)

    def cli(self, *args: str, stdin: str = "") -> str:
        """``newsletter ARGS`` as a process on the stack's settings (``stdin`` its input);
        fails with its error output unless it exits 0. Its standard output."""
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", *args],
            input=stdin,
            cwd=self.logs[0].parent,  # no developer's .env
            env=clean_environ(**self.settings.as_environ()),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"newsletter {' '.join(args)}: {done.stderr}"
        return done.stdout

    def add_user(self, email: str, role: str, password: str) -> None:
        """``newsletter users add EMAIL --role ROLE --password-stdin``, as an operator would."""
        self.cli("users", "add", email, "--role", role, "--password-stdin", stdin=password + "\n")

    def wait_for(self, check: Callable[[], bool], what: str, seconds: float = 30) -> None:
        """Until ``check()``; fails with the processes' logs after ``seconds``."""
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.log_tails()}")
            time.sleep(0.1)


def fresh_database(settings: Settings) -> None:
    """The test database at the head revision with every table empty (what the ``engine``
    fixture of tests/conftest.py does per test, once here for a module's stack)."""
    engine = make_engine(settings)
    try:
        if engine.dialect.name == "sqlite":
            upgrade(engine)
            return
        if current_revision(engine) != HEAD_REVISION:
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            upgrade(engine)
        names = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


def _serve(settings: Settings, port: int, folder: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "newsletter", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    with log.open("w") as out:
        return subprocess.Popen(
            command,
            cwd=folder,  # no developer's .env
            env=clean_environ(**settings.as_environ()),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_serving(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/admin/login", timeout=1).close()
            return
        except OSError as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"newsletter serve did not answer:\n{log.read_text()}") from exc
            time.sleep(0.1)


@contextmanager
def running_stack(settings: Settings, folder: Path) -> Iterator[Stack]:
    """Capture server, ``newsletter serve`` and :data:`WORKERS` workers on ``settings``'
    (prepared) database, Redis database :data:`STACK_REDIS_URL` emptied first; logs in
    ``folder``. Everything is stopped when the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    capture = Capture()
    with ExitStack() as stack:
        smtp_port = stack.enter_context(serving(capture))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = settings.with_overrides(
            base_url=base,
            smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            broker_url=STACK_REDIS_URL,
            batch_size=5,  # several batches: both workers get a share, a pause has work to stop
        )
        broker = redis.Redis.from_url(STACK_REDIS_URL)
        broker.flushdb()
        broker.close()
        engine = make_engine(config)
        stack.callback(engine.dispose)
        ctx = Context(config, session_factory(engine))
        running = Stack(base, config, ctx, capture)
        stack.callback(stop, running.processes)
        serve_log = folder / "serve.log"
        running.logs.append(serve_log)
        running.processes.append(_serve(config, port, folder, serve_log))
        worker_logs = [folder / f"worker{n}.log" for n in range(WORKERS)]
        for n, log in enumerate(worker_logs):
            running.logs.append(log)
            running.processes.append(start_worker(config, f"journey{n}", log))
        wait_ready(worker_logs, running.processes[1:])
        _wait_serving(base, running.processes[0], serve_log)
        yield running


# -- pages in Chromium ------------------------------------------------------------------------
WIDTHS = {"desktop": 1280, "phone": 375}
HEIGHT = 900

# Every page's Content-Security-Policy violations, for shoot() to check (a blocked style or
# script is a page that looks or works wrong).
WATCH_POLICY = """
window.__blocked = [];
document.addEventListener("securitypolicyviolation",
    e => window.__blocked.push(e.violatedDirective + " " + e.blockedURI));
"""


def shoot(page: Any, shots: Path, name: str) -> None:
    """``name-desktop.png`` and ``name-phone.png`` of the whole page, checking that it fits
    each width and that its policy blocked nothing; back to desktop width."""
    assert page.evaluate("window.__blocked") == [], name
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": HEIGHT})
        page.wait_for_timeout(150)  # a layout change, and frames that re-flow
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide} px wide at {width} px: it scrolls sideways"
        page.screenshot(path=str(shots / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": HEIGHT})


def until(page: Any, predicate: str, seconds: float = 10) -> None:
    """Until the function ``predicate`` is true in the page, across its reloads (Playwright's
    wait_for_function evaluates a string, which the pages' script-src forbids)."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + seconds
    while True:
        try:
            if page.evaluate(predicate):
                return
        except Error as exc:  # the page is reloading: ask the next one
            if "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        page.wait_for_timeout(100)


def flash(page: Any) -> str:
    """The flashed messages on the page (outcomes of the last action)."""
    return " ".join(page.locator(".flash").all_inner_texts())
