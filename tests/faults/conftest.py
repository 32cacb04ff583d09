"""The fault suite's servers and bench (``tests/helpers/fault_rig.py``), and its figures at the end
of the run.

One PostgreSQL cluster of the suite's own serves every test, each test on a database of its
own copied from a migrated template; each test gets its own Redis and SMTP capture server.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import Settings
from newsletter.db import make_engine, session_factory, upgrade
from tests.helpers.fault_rig import RESULTS, Rig, fault_settings
from tests.helpers.fault_servers import FaultySmtp, PrivatePostgres, PrivateRedis, SmtpServer

TEMPLATE = "faults_template"
_numbers = itertools.count(1)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RESULTS:
        terminalreporter.section("fault suite: what each fault did to a send")
        for result in RESULTS:
            terminalreporter.write_line(result.line())


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    """The suite's own PostgreSQL cluster, with a migrated template database."""
    server = PrivatePostgres()
    server.start()
    try:
        server.execute(f"CREATE DATABASE {TEMPLATE}")
        engine = make_engine(Settings(database_url=server.url(TEMPLATE)))
        upgrade(engine)
        engine.dispose()  # a template must have no connections when it is copied
        yield server
    finally:
        server.remove()


@pytest.fixture
def rig(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[Rig]:
    database = f"faults_{next(_numbers)}"
    postgres.execute(f"CREATE DATABASE {database} TEMPLATE {TEMPLATE}")
    broker = PrivateRedis(tmp_path)
    broker.start()
    smtp = FaultySmtp()
    server = SmtpServer(smtp)
    server.start()
    smtp_url = f"smtp://127.0.0.1:{server.port}"
    settings = fault_settings(postgres.url(database), broker.url, smtp_url, tmp_path)
    engine = make_engine(settings)
    bench = Rig(settings, session_factory(engine), smtp, server, postgres, broker, tmp_path)
    try:
        yield bench
    finally:
        bench.stop_all()
        server.stop()
        broker.stop()
        engine.dispose()
        if not postgres.running():  # a test that stopped it and failed before restarting it
            postgres.start()
        postgres.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
