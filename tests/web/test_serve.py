"""``newsletter serve`` on an address other machines can reach refuses to start without a
real secret key and an https base URL (one line, exit 1); on loopback it serves as before."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.errors import WorkError
from newsletter.services import Context
from newsletter.web import check_exposure, confirmations
from tests.helpers.cli import run
from tests.helpers.env import clean_environ, free_port

STRONG = "k" * 32
EVERYWHERE = "0.0.0.0"  # noqa: S104 (what the guard is about)


@pytest.mark.parametrize(
    ("secret", "base_url", "missing"),
    [
        (None, "https://news.example.org", "NEWSLETTER_SECRET_KEY of at least 32 bytes"),
        ("short", "https://news.example.org", "NEWSLETTER_SECRET_KEY of at least 32 bytes"),
        (STRONG, "http://news.example.org", "an https:// NEWSLETTER_BASE_URL"),
        (None, "http://127.0.0.1:8000", "32 bytes and an https://"),
    ],
)
def test_serving_beyond_loopback_needs_a_key_and_https(
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
    secret: str | None,
    base_url: str,
    missing: str,
) -> None:
    env = settings.with_overrides(secret_key=secret, base_url=base_url).as_environ()
    done = run(["serve", "--host", EVERYWHERE, "--port", str(free_port())], tmp_path, **env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and missing in lines[0] and "--host 0.0.0.0" in lines[0], done.stderr


def test_the_exposure_rule() -> None:
    safe = Settings(secret_key=STRONG, base_url="https://news.example.org")
    weak = Settings(secret_key="short", base_url="http://127.0.0.1:8000")
    for host in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"):
        check_exposure(weak, host)  # this machine only: anything goes
    for host in (EVERYWHERE, "::", "192.0.2.10", "news.example.org"):
        check_exposure(safe, host)
        with pytest.raises(WorkError, match="refusing to serve beyond this machine"):
            check_exposure(weak, host)


def test_serving_beyond_loopback_with_both_starts(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    env = settings.with_overrides(secret_key=STRONG).as_environ()  # https base URL already
    command = [
        sys.executable,
        "-m",
        "newsletter",
        "serve",
        "--host",
        EVERYWHERE,
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=clean_environ(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                url = f"http://127.0.0.1:{port}/subscribe"
                with urllib.request.urlopen(url, timeout=1) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.1)
        else:
            pytest.fail("serve did not answer")
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_production_factory_applies_the_same_rule(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``gunicorn 'newsletter.web:create_app()'`` reads the environment and cannot see where it
    is bound: a public base URL then needs what ``serve --host`` needs."""
    from newsletter.web import create_app

    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for key, value in settings.with_overrides(secret_key="short").as_environ().items():
        monkeypatch.setenv(key, value)
    with pytest.raises(WorkError, match=r"NEWSLETTER_BASE_URL news\.example\.org: refusing"):
        create_app()
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", STRONG)
    _started(create_app())
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "short")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "http://127.0.0.1:8000")  # a developer's app
    _started(create_app())


def _started(app: Flask) -> None:
    """The app was built; close what it opened (its own engine's pooled connections)."""
    assert app.name == "newsletter.web"
    confirmations(app).close(0)
    context: Context = app.extensions["newsletter"]
    bind = context.factory.kw["bind"]
    assert isinstance(bind, Engine)
    bind.dispose()
