"""The environment of a command-line test's subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.helpers.env import TEST_DATABASE_URL, backend


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """``NEWSLETTER_*`` variables for a command run as a subprocess, on an empty schema (the
    command creates it: ``db upgrade``, or the first command that needs it)."""
    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'data' / 'cli.db'}"
    if backend() == "postgresql":
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    return {
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_DATA_DIR": str(tmp_path / "data"),
        "NEWSLETTER_SECRET_KEY": "k",
        "NEWSLETTER_BASE_URL": "https://news.example.org",
    }
