"""The sign-up form tells nobody which addresses are on the list: the same status, the same
page and the same time whatever the address (unknown, confirmed, pending, suppressed), also
when a field is refused. The confirmation goes out after the answer, from the app's queue,
so a slow mail server slows no answer. Served threaded, mailing through a real (slowed)
SMTP server."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.models import (
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
    utcnow,
)
from newsletter.services import Context
from newsletter.subscribers.suppression import suppress
from newsletter.web import confirmations, create_app
from tests.helpers.env import free_port
from tests.helpers.smtp import Recorder, serving
from tests.helpers.web import TOKEN

NONCE = re.compile(r'nonce="[^"]+"')
# The form's CSRF token is signed with the time (itsdangerous): two answers a second apart
# differ there whoever the address; it says nothing about the address.
CSRF = re.compile(r'name="csrf_token" value="[^"]+"')
SMTP_DELAY = 1.0  # seconds the mail server takes to greet, then to accept each message


class SlowRecorder(Recorder):
    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        await asyncio.sleep(SMTP_DELAY / 2)
        return await super().handle_EHLO(server, session, envelope, hostname, responses)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(SMTP_DELAY / 2)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def served(
    settings: Settings, factory: sessionmaker[Session]
) -> Iterator[tuple[str, Flask, SlowRecorder]]:
    recorder = SlowRecorder()
    with serving(recorder) as smtp_port:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        live = settings.with_overrides(
            base_url=base,
            smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            signup_client_limit="1000/minute",  # this test is one client asking many times
        )
        app = create_app(live, context=Context(live, factory))
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield base, app, recorder
        finally:
            server.shutdown()
            thread.join(timeout=10)
            confirmations(app).close()


class Browser:
    """One visitor: loads the form (its CSRF token and cookie), then posts it."""

    def __init__(self, base: str) -> None:
        self.base = base
        jar = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(jar)
        with self.opener.open(f"{base}/subscribe", timeout=30) as page:
            found = TOKEN.search(page.read().decode())
        assert found
        self.token = found.group(1)

    def sign_up(self, fields: dict[str, str]) -> tuple[int, str, float]:
        data = urllib.parse.urlencode({**fields, "csrf_token": self.token}).encode()
        request = urllib.request.Request(f"{self.base}/subscribe", data=data)
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=30) as answer:
                status, body = answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            status, body = refused.code, refused.read().decode()
        took = time.perf_counter() - started
        body = CSRF.sub('name="csrf_token" value="T"', NONCE.sub('nonce="N"', body))
        return status, body, took  # the random and the timed parts of a page, blanked


def known_addresses(factory: sessionmaker[Session]) -> dict[str, str]:
    """One address in each state a sign-up can meet, by state."""
    now = utcnow()
    states = {
        "confirmed": ("con@example.com", SubscriberStatus.CONFIRMED, None),
        "pending, asked a minute ago": ("pen@example.com", SubscriberStatus.PENDING, 1),
        "pending, asked yesterday": ("old@example.com", SubscriberStatus.PENDING, 1440),
        "unsubscribed": ("uns@example.com", SubscriberStatus.UNSUBSCRIBED, None),
        "bounced": ("bou@example.com", SubscriberStatus.BOUNCED, None),
    }
    with transaction(factory) as session:
        for address, status, minutes in states.values():
            session.add(
                Subscriber(
                    email=address,
                    email_key=address,
                    status=status,
                    created_at=now,
                    confirm_sent_at=now - timedelta(minutes=minutes) if minutes else None,
                )
            )
        suppress(session, "uns@example.com", SuppressionReason.UNSUBSCRIBED, "page", now)
        suppress(session, "bou@example.com", SuppressionReason.HARD_BOUNCE, "550 5.1.1", now)
        suppress(session, "sup@example.com", SuppressionReason.COMPLAINT, "arf", now)
    return {state: address for state, (address, _, _) in states.items()} | {
        "suppressed, never subscribed": "sup@example.com"
    }


def test_known_and_unknown_addresses_get_the_same_answer_in_the_same_time(
    served: tuple[str, Flask, SlowRecorder], factory: sessionmaker[Session]
) -> None:
    base, app, recorder = served
    known = known_addresses(factory)
    unknown = {f"unknown {n}": f"new{n}@example.com" for n in range(len(known))}
    browser = Browser(base)
    browser.sign_up({"email": "warm@example.com"})  # first-request costs out of the way
    answers = {}
    for label, address in [*known.items(), *unknown.items()]:
        status, body, took = browser.sign_up({"email": address, "name": "Ann"})
        answers[label] = (status, body.replace(address, "ADDRESS"), took)
    pages = {(status, body) for status, body, _ in answers.values()}
    assert len(pages) == 1, "the answer depends on the address"
    ((status, body),) = pages
    assert status == 200 and "Check your inbox" in body
    known_times = [answers[label][2] for label in known]
    unknown_times = [answers[label][2] for label in unknown]
    # nobody waited for the mail server (each mail takes it over SMTP_DELAY) ...
    assert max(known_times + unknown_times) < SMTP_DELAY * 0.6, answers
    # ... and the two kinds answer in the same time class
    assert abs(statistics.median(known_times) - statistics.median(unknown_times)) < 0.15
    # the mail still went out, after the answers: to the new, the unsubscribed coming back
    # and the pending asked yesterday; not to the confirmed, the throttled or the suppressed
    assert confirmations(app).join(60)
    assert sorted(recorder.recipients) == sorted(
        [*unknown.values(), "warm@example.com", "old@example.com", "uns@example.com"]
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "A" * 101},  # too long
        {"categories": "Opera"},  # no such section
        {"name": "Ann\r\nBcc: everyone@example.com"},  # folded into one line: accepted
        {"name": "Zoë <ceo@bank.example>, other@evil.example"},
    ],
    ids=["long name", "unknown section", "header in the name", "addresses in the name"],
)
def test_a_refused_field_is_refused_the_same_whoever_the_address(
    served: tuple[str, Flask, SlowRecorder], factory: sessionmaker[Session], fields: dict[str, str]
) -> None:
    base, app, _ = served
    known = known_addresses(factory)
    browser = Browser(base)
    answers = set()
    for address in [*known.values(), "nobody-yet@example.com"]:
        status, body, _took = browser.sign_up({"email": address, **fields})
        answers.add((status, body.replace(address, "ADDRESS")))
    assert len(answers) == 1, sorted(status for status, _ in answers)
    assert confirmations(app).join(60)
