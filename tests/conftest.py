"""Shared fixtures, Flask-tutorial style: per-test settings and database, the app and its client,
the command line, a loopback SMTP server, Celery workers and a browser.

The database is SQLite in a temporary folder unless ``NEWSLETTER_TEST_DATABASE_URL`` names
another (PostgreSQL in CI: ``scripts/test`` runs the suite once per backend). On PostgreSQL the
schema is migrated once per session and every test starts from empty tables. Plain helpers
(data builders, recorders, launchers) are in ``tests/helpers/``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.cli import cli as cli_group
from newsletter.cli._app import Runtime
from newsletter.config import Settings
from newsletter.db import HEAD_REVISION, current_revision, make_engine, session_factory, upgrade
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Base
from newsletter.preflight.dns import stub
from newsletter.preflight.run import Probes
from newsletter.services import Context
from newsletter.web import create_app
from tests.helpers.browser import chromium
from tests.helpers.env import REDIS_URL, TEST_DATABASE_URL, backend, service_up
from tests.helpers.smtp import Recorder, serving
from tests.helpers.workers import start_worker, stop, wait_ready


def pytest_report_header() -> str:
    return f"newsletter database backend: {backend()} {TEST_DATABASE_URL or '(temporary file)'}"


# Modules that never touch a database (pure composition, parsing, configuration): the SQLite
# pass runs them; the PostgreSQL pass, which `scripts/test` runs beside it, would only run the
# same code again, so it skips them (a test in them that asks for a database still runs).
BACKEND_FREE = (
    "tests/compose/",
    "tests/delivery/test_ratelimit.py",
    "tests/deploy/test_dkim_rotation.py",
    "tests/deploy/test_files.py",
    "tests/deploy/test_gunicorn.py",
    "tests/deploy/test_redis_check.py",
    "tests/ingest/test_extract_",
    "tests/ingest/test_fetch",
    "tests/ingest/test_normalize.py",
    "tests/ingest/test_reviewbox.py",
    "tests/issues/test_selection.py",
    "tests/mail/test_dkim_canon.py",
    "tests/mail/test_replies.py",
    "tests/mail/test_smtp_pipelining.py",
    "tests/mail/test_smtputf8.py",
    "tests/preflight/test_findings.py",
    "tests/subscribers/test_addresses.py",
    "tests/subscribers/test_subscriber_parse.py",
    "tests/test_architecture.py",
    "tests/test_config.py",
    "tests/test_sections.py",
)
_DATABASE_FIXTURES = frozenset(
    {"settings", "engine", "factory", "services", "app", "client", "cli"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if backend() != "postgresql":
        return
    once = pytest.mark.skip(reason="touches no database: runs in the SQLite pass")
    for item in items:
        uses_database = _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        if item.nodeid.startswith(BACKEND_FREE) and not uses_database:
            item.add_marker(once)


# -- settings and the database ------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    url = TEST_DATABASE_URL or f"sqlite:///{data / 'test.db'}"
    return Settings(
        database_url=url,
        data_dir=data,
        secret_key="test-secret",
        base_url="https://news.example.org",
        from_address="Reviews Weekly <digest@reviews.example.com>",
    )


def _migrate_from_scratch(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)


@pytest.fixture(scope="session")
def _migrated_server() -> Iterator[None]:
    """On a server database: migrate from scratch once for the whole session."""
    if backend() == "sqlite":
        yield
        return
    engine = make_engine(Settings(database_url=TEST_DATABASE_URL))
    # One test session at a time per database: every test truncates the tables, so two
    # sessions on one database (two checkouts, two developers) would wipe each other's rows.
    # A session-level advisory lock makes a second session wait for the first.
    holder = engine.connect()
    try:
        holder.execute(text("SELECT pg_advisory_lock(4713001)"))
        holder.commit()
        _migrate_from_scratch(engine)
        yield
    finally:
        holder.close()  # the lock goes with the connection
        engine.dispose()


@pytest.fixture
def engine(settings: Settings, _migrated_server: None) -> Iterator[Engine]:
    engine = make_engine(settings)
    try:
        if backend() == "sqlite":
            upgrade(engine)
        else:
            if current_revision(engine) != HEAD_REVISION:
                # a command-line test (tests/cli) starts its subprocesses on an empty schema
                _migrate_from_scratch(engine)
            names = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
            with engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


# -- the two faces ------------------------------------------------------------------------------
@pytest.fixture
def transport() -> MemoryTransport:
    """Where the app's and the services' mail goes in a test: kept in memory."""
    return MemoryTransport()


@pytest.fixture
def services(
    settings: Settings, factory: sessionmaker[Session], transport: MemoryTransport
) -> Context:
    """The service layer over the test database, mailing into ``transport``; its pre-flight
    check asks a DNS with no records and skips SpamAssassin (tests/preflight run it)."""
    probes = Probes(lookup=stub({}), spam=False)
    return Context(settings, factory, transport_factory=lambda: transport, probes=probes)


@pytest.fixture
def app(services: Context) -> Flask:
    return create_app(services.settings, context=services)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c


@pytest.fixture
def cli(settings: Settings, engine: Engine) -> Callable[..., Result]:
    """``cli("issue", "build")``: the command line in this process (click's CliRunner) on the
    test's settings and database. Tests that are about the process (exit codes, stderr, the
    environment) run it as a subprocess instead (``tests.helpers.cli.run``)."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli_group, list(args), obj=Runtime(settings), catch_exceptions=False)

    return invoke


# -- servers and processes ----------------------------------------------------------------------
@pytest.fixture
def redis_url() -> str:
    if not service_up("127.0.0.1", 6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (scripts/test starts it)")
    return REDIS_URL


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    """An aiosmtpd server on a free loopback port: (its recorder, the port)."""
    handler = Recorder()
    with serving(handler) as port:
        yield handler, port


@pytest.fixture
def celery_worker(
    redis_url: str, tmp_path: Path
) -> Iterator[Callable[[Settings, int], list[Path]]]:
    """``celery_worker(settings, n)`` starts ``n`` worker processes on ``settings`` (whose broker
    must be set), waits until they are ready, and returns their log files; all are stopped
    after the test."""
    redis.Redis.from_url(redis_url).flushdb()
    started: list[subprocess.Popen[bytes]] = []

    def start(settings: Settings, workers: int = 1) -> list[Path]:
        assert settings.broker_url, "workers need a broker"
        offset = len(started)
        logs = [tmp_path / f"worker{offset + n}.log" for n in range(workers)]
        started.extend(start_worker(settings, f"w{offset + n}", log) for n, log in enumerate(logs))
        wait_ready(logs)
        return logs

    yield start
    stop(started)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), one per test module."""
    try:
        with chromium() as launched:
            yield launched
    except RuntimeError as exc:
        pytest.fail(str(exc))
