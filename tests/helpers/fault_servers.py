"""Servers of the fault suite's own, so that it may kill and restart them: a PostgreSQL cluster
made with ``initdb`` in a temporary folder, a Redis that keeps nothing on disk, and an SMTP
capture server on loopback that can be told to defer, refuse or vanish.

The shared services (the CI's PostgreSQL and Redis) are never touched: restarting them would
break every other test running at the same time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import redis
from aiosmtpd.controller import Controller

from tests.helpers.env import free_port

PG_BIN = Path("/usr/lib/postgresql")


def pg_bin(name: str) -> str:
    """A PostgreSQL server program (``initdb``, ``pg_ctl``) of the newest installed version."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(PG_BIN.glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise RuntimeError(f"{name} not found: install Debian's postgresql package")
    return str(versions[-1] / name)


class PrivatePostgres:
    """A PostgreSQL cluster of its own on a free loopback port, trust authentication.

    As root (CI), the server runs as the ``postgres`` user, since PostgreSQL refuses to run as
    root. ``fsync=off``: a crash of the server process (``restart(immediate=True)``) still
    loses nothing committed, because the operating system keeps what was written.
    """

    def __init__(self, host: str = "127.0.0.1", network: str | None = None) -> None:
        """``host``: the address it listens on (besides 127.0.0.1) and its URLs name;
        ``network``: a CIDR whose clients it trusts too (other hosts on a test network)."""
        self.host = host
        # Not under pytest's temporary folder: that one is private to root (mode 0700), and
        # the server's user must reach its data.
        self.root = Path(tempfile.mkdtemp(prefix="newsletter-faults-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
        self._run(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        if network:
            with (self.data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {network} trust\n")

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self._as, *command], capture_output=True, timeout=120)
        if done.returncode:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{output}")

    def remove(self) -> None:
        """Stop the server if it runs and delete its files."""
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        listen = ",".join(sorted({"127.0.0.1", self.host}))
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={listen} -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        log = str(self.root / "server.log")
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, *, immediate: bool = False) -> None:
        mode = "immediate" if immediate else "fast"
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres").replace("+psycopg", ""), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url("postgres").replace("+psycopg", ""), autocommit=True) as c:
            c.execute(sql.encode())  # our own DDL, no parameters


class PrivateRedis:
    """A Redis of its own on a free loopback port that keeps nothing on disk, so a restart
    (:meth:`restart`: SIGKILL, then a new server on the same port) loses every queued task."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root = root
        self.host = host
        self.port = free_port()
        self.url = f"redis://{host}:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        options = ["--bind", *sorted({"127.0.0.1", self.host}), "--port", str(self.port)]
        options += ["--save", "", "--protected-mode", "no"]
        options += ["--appendonly", "no", "--dir", str(self.root)]
        self._process = subprocess.Popen(["redis-server", *options], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
        self._process = None

    def restart(self) -> None:
        """Killed (its data is lost with it) and started again on the same port."""
        self.kill()
        self.start()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None


class FaultySmtp:
    """aiosmtpd handler of the capture server: counts what it accepts per recipient and, as the
    test says, answers ``greeting_reply`` to EHLO and MAIL FROM (a whole server deferring on
    new and open connections alike: 421),
    ``rcpt_reply`` to every RCPT TO (a server deferring every recipient: 451), or 550 5.1.1 to
    the addresses in ``refused``."""

    def __init__(self) -> None:
        self.greeting_reply: str | None = None
        self.rcpt_reply: str | None = None
        self.refused: set[str] = set()
        self.received: Counter[str] = Counter()
        self.accepted_at: dict[str, list[float]] = {}  # monotonic times, per recipient
        self.deferred = 0  # 4xx replies given
        self._lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        if self.greeting_reply:
            self.deferred += 1
            return [self.greeting_reply]
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.greeting_reply:
            self.deferred += 1
            return self.greeting_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            self.deferred += 1
            return self.rcpt_reply
        if address in self.refused:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                self.received[rcpt] += 1
                self.accepted_at.setdefault(rcpt, []).append(now)
        return "250 2.0.0 queued"

    def total(self) -> int:
        return sum(self.received.values())


class SmtpServer:
    """The capture server on a fixed loopback port, which can disappear (:meth:`stop`: new
    connections are refused) and come back (:meth:`start`) on the same port."""

    def __init__(self, handler: FaultySmtp, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
