"""Per-test settings, database and session factory (Flask-tutorial style fixtures).

The database is SQLite in a temporary folder unless ``NEWSLETTER_TEST_DATABASE_URL`` names
another (PostgreSQL in CI: ``scripts/test`` runs the suite once per backend). On PostgreSQL the
schema is migrated once per session and every test starts from empty tables.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import make_engine, session_factory, upgrade
from newsletter.models import Base

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_FIXTURES = Path(
    os.environ.get("NEWSLETTER_SHARED_FIXTURES")
    or Path(__file__).resolve().parents[2] / "shared" / "fixtures"
)
TEST_DATABASE_URL = os.environ.get("NEWSLETTER_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("NEWSLETTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def backend() -> str:
    return "postgresql" if TEST_DATABASE_URL.startswith("postgresql") else "sqlite"


def pytest_report_header() -> str:
    return f"newsletter database backend: {backend()} {TEST_DATABASE_URL or '(temporary file)'}"


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


@pytest.fixture(scope="session")
def _migrated_server() -> Iterator[None]:
    """On a server database: migrate from scratch once for the whole session."""
    if backend() == "sqlite":
        yield
        return
    engine = make_engine(Settings(database_url=TEST_DATABASE_URL))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()
    yield


@pytest.fixture
def engine(settings: Settings, _migrated_server: None) -> Iterator[Engine]:
    engine = make_engine(settings)
    if backend() == "sqlite":
        upgrade(engine)
    else:
        names = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def service_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    if not service_up("127.0.0.1", 6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (scripts/test starts it)")
    return REDIS_URL


def copy_fixture(name: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / name, target)
    return target


# -- a loopback SMTP server that records what it receives (aiosmtpd) ---------------------------
class Recorder:
    """aiosmtpd handler: records messages; some recipients get 4xx or 5xx replies."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.sessions = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("busy"):
            return "451 4.3.0 try again later"
        if address.startswith("nobody"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
