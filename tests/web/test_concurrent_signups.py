"""Sign-ups arriving at the same moment through one app, served threaded as ``newsletter serve``
serves it, each get exactly one confirmation of their own over real SMTP: no two requests
share an SMTP connection (a transport is not thread-safe), and none is lost by the queue that
sends them after the response."""

from __future__ import annotations

import email
import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from newsletter.config import Settings
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.services import Context
from newsletter.web import confirmations, create_app
from tests.helpers.env import free_port
from tests.helpers.smtp import Recorder
from tests.helpers.web import TOKEN

THREADS = 8
EACH = 3


@pytest.fixture
def served(
    settings: Settings, factory: sessionmaker[Session], smtp_server: tuple[Recorder, int]
) -> Iterator[tuple[str, Flask]]:
    """The app over the test database, mailing through real SMTP, on a threaded server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    live = settings.with_overrides(
        base_url=base,
        smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}",
        signup_client_limit="1000 per minute",  # every reader here comes from 127.0.0.1
    )
    app = create_app(live, context=Context(live, factory))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, app
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _post(url: str, fields: dict[str, str], page: str | None = None) -> tuple[int, str]:
    """Load the form at ``page`` (default ``url``) as a browser would, then post it."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(page or url, timeout=30) as shown:
        token = TOKEN.search(shown.read().decode())
    assert token, page or url
    data = urllib.parse.urlencode({**fields, "csrf_token": token.group(1)}).encode()
    with opener.open(urllib.request.Request(url, data=data), timeout=30) as answer:
        return answer.status, answer.read().decode()


def test_simultaneous_sign_ups_each_get_their_own_confirmation(
    served: tuple[str, Flask], smtp_server: tuple[Recorder, int], factory: sessionmaker[Session]
) -> None:
    served_at, app = served
    recorder, _ = smtp_server
    addresses = [f"reader{t}-{n}@example.com" for t in range(THREADS) for n in range(EACH)]
    start = threading.Barrier(THREADS)
    failures: list[str] = []

    def sign_up(mine: list[str]) -> None:
        start.wait()
        for address in mine:
            status, body = _post(f"{served_at}/subscribe", {"email": address, "name": address[:7]})
            if status != 200 or "Check your inbox" not in body:
                failures.append(f"{address}: {status}")

    threads = [
        threading.Thread(target=sign_up, args=(addresses[t * EACH : (t + 1) * EACH],))
        for t in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    assert confirmations(app).join(60)  # sent after the answers: wait until all went out
    assert sorted(recorder.recipients) == sorted(addresses)  # one each, nobody twice
    for done, (_mail_from, rcpts, raw) in enumerate(recorder.messages, start=1):
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        assert message["To"].addresses[0].addr_spec == rcpts[0]  # the message is theirs
        text = message.get_body(("plain",))
        assert text is not None
        (link,) = re.findall(rf"{re.escape(served_at)}/confirm/\S+", text.get_content())
        status, body = _post(link, {})
        assert (status, "You are subscribed" in body) == (200, True), rcpts[0]
        with factory() as session:  # the link confirmed its own recipient, nobody else
            confirmed = session.scalars(
                select(Subscriber.email).where(Subscriber.status == SubscriberStatus.CONFIRMED)
            ).all()
        assert rcpts[0] in confirmed and len(confirmed) == done
    with factory() as session:
        confirmed = session.scalars(
            select(Subscriber.email).where(Subscriber.status == SubscriberStatus.CONFIRMED)
        ).all()
    assert sorted(confirmed) == sorted(addresses)
