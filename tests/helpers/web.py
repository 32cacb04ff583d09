"""Posting the web app's forms as a browser does: load the page, take the form's CSRF token,
post it back with the session cookie; then wait until the app's queue has handed over the
confirmation mail it sends after the response."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from newsletter.config import Settings
from newsletter.services import Context, users
from newsletter.web import confirmations
from tests.helpers.env import clean_environ, free_port

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
Fields = Mapping[str, str | Sequence[str]]


def form_token(client: FlaskClient, page: str = "/subscribe") -> str:
    """The CSRF token of the form on ``page`` (the sign-up page's when ``page`` has none,
    e.g. a bad link's page: one session has one token for every form)."""
    found = TOKEN.search(client.get(page).get_data(as_text=True))
    if found is None and page != "/subscribe":
        return form_token(client)
    assert found, f"no form token on {page}"
    return found.group(1)


def settle(client: FlaskClient, timeout: float = 30.0) -> None:
    """Wait until every confirmation the app queued was sent (or handed to a worker)."""
    assert confirmations(client.application).join(timeout), "the confirmation queue is stuck"


def submit(
    client: FlaskClient,
    path: str,
    data: Fields | None = None,
    *,
    page: str | None = None,
    settle_after: bool = True,
) -> TestResponse:
    """POST ``data`` to ``path`` as its form would (token from ``page``, default ``path``),
    then :func:`settle` (unless not ``settle_after``)."""
    fields: dict[str, str | Sequence[str]] = dict(data or {})
    fields["csrf_token"] = form_token(client, page or path)
    answer = client.post(path, data=fields)
    if settle_after:
        settle(client)
    return answer


STAFF_PASSWORD = "correct horse battery staple"


def log_in(client: FlaskClient, ctx: Context, role: str, email: str | None = None) -> str:
    """Make a staff account (``{role}@example.com`` unless ``email``) and log ``client`` in
    through the login form, as a browser does; returns the address."""
    email = email or f"{role}@example.com"
    users.add_user(ctx, email, role, STAFF_PASSWORD)
    token = form_token(client, "/admin/login")
    answer = client.post(
        "/admin/login", data={"email": email, "password": STAFF_PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return email


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """``newsletter serve`` on a free loopback port over ``settings`` (its base URL set to
    that address), as an operator starts it; yields the base URL once it answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_environ(**settings.with_overrides(base_url=base).as_environ())
    command = [sys.executable, "-m", "newsletter", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{base}/admin/login", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"serve exited: {process.stderr.read() if process.stderr else ''}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
