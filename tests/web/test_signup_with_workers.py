"""With a broker, the web's confirmation is still handed over after the answer: the queue's
thread queues the Celery task, a worker sends the mail. A broker that is down changes
neither the answer nor its time; the request is withdrawn so the person may ask again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Subscriber
from newsletter.services import Context
from newsletter.web import create_app
from tests.helpers.smtp import Recorder
from tests.helpers.web import settle, submit


def test_a_worker_sends_the_web_sign_ups_confirmation(
    settings: Settings,
    factory: sessionmaker[Session],
    redis_url: str,
    celery_worker: Callable[[Settings, int], list[Path]],
    smtp_server: tuple[Recorder, int],
) -> None:
    recorder, port = smtp_server
    live = settings.with_overrides(broker_url=redis_url, smtp_url=f"smtp://127.0.0.1:{port}")
    logs = celery_worker(live, 1)
    app = create_app(live, context=Context(live, factory))
    answer = submit(app.test_client(), "/subscribe", {"email": "wu@example.com"})
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    deadline = time.monotonic() + 30
    while not recorder.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    assert recorder.recipients == ["wu@example.com"], logs[0].read_text()[-2000:]
    assert "newsletter.send_confirmation" in logs[0].read_text()


def test_a_broker_that_is_down_changes_nothing_the_visitor_sees(
    settings: Settings, factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    down = settings.with_overrides(broker_url="redis://127.0.0.1:1/0")
    app = create_app(down, context=Context(down, factory, lambda: MemoryTransport()))
    client = app.test_client()
    started = time.perf_counter()
    answer = submit(client, "/subscribe", {"email": "xu@example.com"}, settle_after=False)
    took = time.perf_counter() - started
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    assert took < 1.0  # the answer did not wait for the broker
    settle(client, timeout=120)
    with factory() as session:
        asked = session.scalar(
            select(Subscriber.confirm_sent_at).where(Subscriber.email_key == "xu@example.com")
        )
    assert asked is None  # withdrawn: asking again sends at once, not in an hour
    assert "not handed over" in caplog.text
