"""Where the tests run: fixture folders, the database and Redis they use, a fixed clock."""

from __future__ import annotations

import os
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = ROOT / "tests" / "golden"
# Screenshots land here for a person to look at (git ignores the folder).
ARTIFACTS = ROOT / ".test-artifacts"
SHARED_FIXTURES = Path(
    os.environ.get("NEWSLETTER_SHARED_FIXTURES") or ROOT.parent / "shared" / "fixtures"
)
TEST_DATABASE_URL = os.environ.get("NEWSLETTER_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("NEWSLETTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def backend() -> str:
    return "postgresql" if TEST_DATABASE_URL.startswith("postgresql") else "sqlite"


def service_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def copy_fixture(name: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / name, target)
    return target


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any ``NEWSLETTER_*`` (the developer's own must not
    leak into a child process), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(extra)
    return env
