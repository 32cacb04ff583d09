"""Schema and storage basics on the configured backend (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import HEAD_REVISION, current_revision, make_engine, transaction
from newsletter.errors import InputError
from newsletter.models import Base, Issue, Subscriber
from tests.helpers.env import backend


def test_migrations_match_the_models(engine: Engine) -> None:
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_times_come_back_as_aware_utc(factory: sessionmaker[Session]) -> None:
    eastern = timezone(timedelta(hours=-5))
    with transaction(factory) as session:
        session.add(
            Issue(
                week_key="2026-W48",
                subject="s",
                window_start=datetime(2026, 11, 20, 9, tzinfo=eastern),
                cutoff=datetime(2026, 11, 27, tzinfo=UTC),
            )
        )
    with factory() as session:
        issue = session.scalars(select(Issue)).one()
        assert issue.window_start == datetime(2026, 11, 20, 14, tzinfo=UTC)
        assert issue.window_start.tzinfo is not None


def _add_naive_issue(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        session.add(
            Issue(
                week_key="2026-W48",
                subject="s",
                window_start=datetime(2026, 11, 20),
                cutoff=datetime(2026, 11, 27, tzinfo=UTC),
            )
        )


def test_naive_times_are_refused(factory: sessionmaker[Session]) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        _add_naive_issue(factory)
    with factory() as session:
        assert session.scalars(select(Issue)).all() == []


def test_email_is_unique_case_insensitively(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        session.add(Subscriber(email="Ana@Example.com", email_key="ana@example.com"))
    with pytest.raises(IntegrityError), transaction(factory) as session:
        session.add(Subscriber(email="ANA@example.com", email_key="ana@example.com"))
    with factory() as session:
        assert session.scalars(select(Subscriber.email)).all() == ["Ana@Example.com"]


def test_unreachable_database_is_a_clear_input_error() -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"
    with pytest.raises(InputError) as caught:
        make_engine(Settings(database_url=url))
    message = str(caught.value)
    assert "cannot connect" in message
    assert "secret" not in message
    assert "127.0.0.1:1" in message


def test_sqlite_file_under_a_file_is_a_clear_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="not writable"):
        make_engine(Settings(database_url=f"sqlite:///{blocker}/db.sqlite"))


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite specifics")
def test_sqlite_runs_in_wal_mode(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
