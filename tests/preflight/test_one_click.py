"""The one-click check against the real web app on loopback: the sample's link is a dry run
(answered 200, nobody unsubscribed); a web app with another secret key refuses it, an error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from newsletter.config import Settings
from newsletter.models import Event, Subscriber, SubscriberStatus
from newsletter.preflight.dns import stub
from newsletter.preflight.run import Probes, check_issue
from newsletter.services import Context
from newsletter.web import create_app
from tests.helpers.env import free_port
from tests.helpers.factories import NOW, issue_with, review

READERS = ["ana@example.com", "ben@example.com"]


@contextmanager
def web_app(settings: Settings, factory: sessionmaker[Session]) -> Iterator[None]:
    app = create_app(settings, context=Context(settings, factory))
    server = make_server("127.0.0.1", int(settings.base_url.rsplit(":", 1)[1]), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(base_url=f"http://127.0.0.1:{free_port()}")


def test_the_sample_link_is_answered_as_a_dry_run(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], READERS)
    with web_app(settings, factory):
        report = check_issue(factory, settings, issue_id, NOW, Probes(lookup=stub({}), spam=False))

    one_click = [f for f in report.findings if f.check == "unsubscribe"]
    assert [f.severity for f in one_click] == ["warning", "note"]
    assert "RFC 8058 requires https" in one_click[0].message  # this base URL is http
    assert one_click[1].message == "one-click unsubscribe answers 200 to a POST (dry run)"
    with factory() as session:
        statuses = set(session.scalars(select(Subscriber.status)))
        assert statuses == {SubscriberStatus.CONFIRMED}
        assert list(session.scalars(select(Event).where(Event.kind == "unsubscribe"))) == []


def test_a_web_app_with_another_secret_refuses_it(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], READERS)
    with web_app(replace(settings, secret_key="another-secret"), factory):
        report = check_issue(factory, settings, issue_id, NOW, Probes(lookup=stub({}), spam=False))

    [error] = [f for f in report.errors if f.check == "unsubscribe"]
    assert error.message.startswith("one-click unsubscribe answered 4")
    assert "share NEWSLETTER_SECRET_KEY" in error.fix
