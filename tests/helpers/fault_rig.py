"""The fault suite's test bench: a database of the test's own on the suite's PostgreSQL, a Redis
broker of its own, an SMTP capture server, Celery worker processes that the test may kill and
start again, and the figures each test reports (:class:`Outcome`).

A test builds an issue for a few thousand confirmed readers (:meth:`Rig.issue`), sends it
through the workers (:meth:`Rig.send`), does its harm, waits for the end
(:meth:`Rig.wait_for`), and reports what the capture server received (:meth:`Rig.outcome`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.dispatch import CeleryDispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.ingest.store import store_reviews
from newsletter.issues.build import build_issue
from newsletter.jobs.celery_app import create_celery
from newsletter.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from tests.helpers.env import ROOT, clean_environ
from tests.helpers.factories import NOW, review
from tests.helpers.fault_servers import FaultySmtp, PrivatePostgres, PrivateRedis, SmtpServer
from tests.helpers.workers import tails, worker_command

RECIPIENTS = 5000


@dataclass(frozen=True)
class Outcome:
    """What one fault test measured, as ``docs/RELIABILITY.md`` records it."""

    fault: str
    recipients: int
    delivered: int  # recipients who received the issue at least once
    duplicates: int  # copies beyond the first
    lost: int  # recipients who should have received it and did not
    seconds: float  # from the send's start to its end
    note: str = ""

    def line(self) -> str:
        text = (
            f"{self.fault}: recipients {self.recipients}, delivered {self.delivered}, "
            f"duplicates {self.duplicates}, lost {self.lost}, seconds {self.seconds:.1f}"
        )
        return f"{text} ({self.note})" if self.note else text


RESULTS: list[Outcome] = []  # printed at the end of the run (tests/faults/conftest.py)


def fault_settings(database_url: str, broker_url: str, smtp_url: str, folder: Path) -> Settings:
    """The settings every process of a fault test runs with."""
    return Settings(
        database_url=database_url,
        data_dir=folder / "data",
        secret_key="fault-suite-secret",
        base_url="https://news.example.org",
        from_address="Reviews Weekly <digest@reviews.example.com>",
        broker_url=broker_url,
        smtp_url=smtp_url,
    )


@dataclass
class Rig:
    settings: Settings
    factory: sessionmaker[Session]
    smtp: FaultySmtp
    server: SmtpServer
    postgres: PrivatePostgres
    broker: PrivateRedis
    folder: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _dispatcher: CeleryDispatcher | None = None

    # -- processes ------------------------------------------------------------------------
    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def spawn(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        """``command`` (after ``python -m``) as a child process on the rig's settings, its
        output in ``{name}.log`` (appended: a restarted worker keeps one log)."""
        with self.log(name).open("a") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", *command],
                cwd=ROOT,
                env=clean_environ(**self.settings.as_environ()),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started.append(process)
        return process

    def newsletter(self, *args: str, timeout: float = 120) -> str:
        """The command line, as an operator runs it on another host, on the rig's settings;
        its output (it must succeed)."""
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", *args],
            cwd=ROOT,
            env=clean_environ(**self.settings.as_environ()),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start_worker(self, name: str) -> None:
        """A Celery worker as in production (``celery -A worker worker``, solo pool), ready."""
        before = self.log(name).read_text().count(" ready.") if self.log(name).exists() else 0
        self.workers[name] = process = self.spawn(name, *worker_command(name))
        deadline = time.monotonic() + 60
        while self.log(name).read_text().count(" ready.") <= before:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{self.tails()}")
            time.sleep(0.05)

    def start_workers(self, count: int) -> None:
        for n in range(count):
            self.start_worker(f"w{n}")

    def kill(self, name: str) -> None:
        """SIGKILL: no warm shutdown, no hand-back; its rows wait for their lease."""
        process = self.workers[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def tails(self) -> str:
        return tails(sorted(self.folder.glob("*.log")))

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    # -- the issue ------------------------------------------------------------------------
    def issue(self, recipients: int = RECIPIENTS) -> tuple[int, list[str]]:
        """An issue built for ``recipients`` confirmed all-section readers."""
        emails = self.readers(recipients)
        with transaction(self.factory) as session:
            store_reviews(session, [review("a", "Film"), review("b", "Anime")], now=NOW)
        with transaction(self.factory) as session:
            return build_issue(session, self.settings, now=NOW).issue_id, emails

    def readers(self, recipients: int = RECIPIENTS) -> list[str]:
        """``recipients`` confirmed all-section readers, bulk-inserted; their addresses."""
        emails = [f"reader{n:05d}@example.com" for n in range(recipients)]
        rows = [
            {
                "email": email,
                "email_key": email,
                "status": SubscriberStatus.CONFIRMED,
                "category_mask": 0,
                "created_at": NOW,
            }
            for email in emails
        ]
        with transaction(self.factory) as session:
            session.execute(insert(Subscriber), rows)
        return emails

    @property
    def dispatcher(self) -> CeleryDispatcher:
        if self._dispatcher is None:
            self._dispatcher = CeleryDispatcher(create_celery(self.settings))
        return self._dispatcher

    def send(self, issue_id: int) -> float:
        """Start the send through the broker; returns when it started (monotonic)."""
        started = time.monotonic()
        send_issue(self.factory, self.settings, issue_id, self.dispatcher, utcnow())
        return started

    def status(self, issue_id: int) -> IssueStatus:
        with self.factory() as session:
            return session.scalars(select(Issue.status).where(Issue.id == issue_id)).one()

    def count(self, issue_id: int, state: DeliveryState) -> int:
        with self.factory() as session:
            return (
                session.scalar(
                    select(func.count()).where(
                        Delivery.issue_id == issue_id, Delivery.state == state
                    )
                )
                or 0
            )

    def wait_for(
        self, check: Callable[[], bool], seconds: float, what: str, every: float = 0.1
    ) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                tails = self.tails()
                raise AssertionError(f"timed out after {seconds} s waiting for {what}\n{tails}")
            time.sleep(every)

    def wait_until_sent(self, issue_id: int, seconds: float) -> float:
        """Until the issue is sent; returns when (monotonic)."""
        self.wait_for(lambda: self.status(issue_id) is IssueStatus.SENT, seconds, "the send's end")
        return time.monotonic()

    def outcome(
        self, fault: str, expected: list[str], started: float, ended: float, note: str = ""
    ) -> Outcome:
        received = self.smtp.received
        delivered = sum(1 for email in expected if received[email])
        duplicates = sum(count - 1 for count in received.values() if count > 1)
        result = Outcome(
            fault,
            len(expected),
            delivered,
            duplicates,
            len(expected) - delivered,
            ended - started,
            note,
        )
        RESULTS.append(result)
        print(result.line())
        return result
