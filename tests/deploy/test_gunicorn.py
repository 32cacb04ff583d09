"""The web unit's own gunicorn command, started for real on a free loopback port with the app
factory and a SQLite database: the sign-up page answers, and a sign-up through it stores the
person and mails the confirmation; and the factory, on its production path, refuses to serve
a public base URL without a real secret key."""

from __future__ import annotations

import http.cookiejar
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from newsletter.config import Settings
from newsletter.db import make_engine, session_factory, upgrade
from newsletter.models import Subscriber, SubscriberStatus
from tests.helpers.env import ROOT, clean_environ, free_port

UNIT = ROOT / "deploy" / "systemd" / "newsletter-web.service"


def _command(port: int, folder: Path) -> list[str]:
    """The unit's ExecStart, on this virtualenv's gunicorn, a free port and a control socket
    in ``folder``; every other option as shipped."""
    line = next(x for x in UNIT.read_text().splitlines() if x.startswith("ExecStart="))
    argv = shlex.split(line.removeprefix("ExecStart="))
    argv[0] = str(Path(sys.executable).parent / "gunicorn")
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    argv[argv.index("--control-socket") + 1] = str(folder / "gunicorn.ctl")
    assert argv[-1] == "newsletter.web:create_app()"
    return argv


@contextmanager
def _gunicorn(settings: Settings, folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """gunicorn on ``settings`` (from its environment only, as under systemd): (URL, process)."""
    port = free_port()
    log = folder / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            _command(port, folder),
            cwd=folder,  # no .env of the checkout: the environment is all it reads
            env=clean_environ(**settings.as_environ()),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.terminate()  # SIGTERM: gunicorn's graceful stop, as systemd sends it
            process.wait(timeout=60)


def _get(url: str, opener: urllib.request.OpenerDirector, timeout: float = 30) -> str:
    """GET ``url`` once gunicorn answers (it boots its workers first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=10) as answer:
                assert answer.status == 200
                body: bytes = answer.read()
                return body.decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _sqlite(folder: Path, base_url: str, secret_key: str) -> Settings:
    """Settings of their own on a SQLite file, whichever database the test pass uses: the
    point is gunicorn and the factory."""
    database = f"sqlite:///{folder / 'web.db'}"
    return Settings(
        database_url=database, data_dir=folder / "data", base_url=base_url, secret_key=secret_key
    )


def test_gunicorn_serves_the_app_from_the_factory(tmp_path: Path) -> None:
    local = _sqlite(tmp_path, "http://127.0.0.1:8000", "test-secret")
    engine = make_engine(local)
    upgrade(engine)
    jar = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with _gunicorn(local, tmp_path) as (url, process):
        page = _get(f"{url}/subscribe", jar)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None, page[:500]
        form = {"csrf_token": token.group(1), "email": "gus@example.com", "name": "Gus"}
        with jar.open(f"{url}/subscribe", urllib.parse.urlencode(form).encode()) as answer:
            assert answer.status == 200
        # the confirmation leaves after the response, from the worker's queue thread
        outbox = local.outbox_dir
        deadline = time.monotonic() + 30
        while not (outbox.is_dir() and any(outbox.glob("*.eml"))):
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.1)
        assert process.poll() is None
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Using worker: gthread" in log and "Traceback" not in log, log
    with session_factory(engine)() as session:
        gus = session.scalars(select(Subscriber)).one()
        assert (gus.email, gus.status) == ("gus@example.com", SubscriberStatus.PENDING)
    engine.dispose()
    (mail,) = outbox.glob("*.eml")
    assert "/confirm/" in mail.read_text()


def test_the_factory_refuses_a_public_base_url_without_a_real_key(tmp_path: Path) -> None:
    public = _sqlite(tmp_path, "https://news.example.org", "short")
    engine = make_engine(public)
    upgrade(engine)
    engine.dispose()
    with _gunicorn(public, tmp_path) as (_url, process):
        assert process.wait(timeout=60) != 0  # the worker cannot boot: gunicorn stops
    log = (tmp_path / "gunicorn.log").read_text()
    assert "refusing to serve beyond this machine without NEWSLETTER_SECRET_KEY of at" in log
