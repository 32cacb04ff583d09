"""The real thing: a Celery worker process on a real Redis broker sends an issue."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.dispatch import CeleryDispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.jobs.celery_app import create_celery
from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus
from newsletter.services import Context
from newsletter.services import subscribers as people
from tests.helpers.factories import NOW, issue_with, review
from tests.helpers.smtp import Recorder


@pytest.fixture
def worker(
    settings: Settings, redis_url: str, celery_worker: Callable[[Settings, int], list[Path]]
) -> Settings:
    """A ``celery -A worker worker`` process sharing the test's database and outbox."""
    settings = settings.with_overrides(broker_url=redis_url, batch_size=5)
    celery_worker(settings, 1)
    return settings


def test_worker_on_redis_delivers_every_recipient_once(
    worker: Settings, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    emails = [f"reader{i:02d}@example.com" for i in range(23)]
    issue_id = issue_with(factory, worker, [review("a", "Film"), review("b", "TV")], emails)
    result = send_issue(factory, worker, issue_id, CeleryDispatcher(create_celery(worker)), NOW)
    assert result.batches == 5
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        with factory() as session:
            status = session.get_one(Issue, issue_id).status
            if status is IssueStatus.SENT:
                break
        time.sleep(0.2)
    log = (tmp_path / "worker0.log").read_text()
    assert status is IssueStatus.SENT, log[-3000:]
    with factory() as session:
        sent = session.scalar(select(func.count()).where(Delivery.state == DeliveryState.SENT))
    assert sent == len(emails)
    files = sorted((worker.outbox_dir).glob("*.eml"))
    assert len(files) == len(emails)
    assert "newsletter.deliver_batch" in log


def test_a_sign_up_with_a_broker_is_confirmed_from_a_worker(
    settings: Settings,
    factory: sessionmaker[Session],
    redis_url: str,
    celery_worker: Callable[[Settings, int], list[Path]],
    smtp_server: tuple[Recorder, int],
) -> None:
    """The request only commits and queues: the worker builds and sends the confirmation."""
    recorder, port = smtp_server
    live = settings.with_overrides(broker_url=redis_url, smtp_url=f"smtp://127.0.0.1:{port}")
    logs = celery_worker(live, 1)
    done = people.sign_up(Context(live, factory), "kim@example.com", "Kim", ["Film"], source="web")
    assert done.handed.queued and not done.handed.sent
    deadline = time.monotonic() + 30
    while not recorder.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    assert recorder.recipients == ["kim@example.com"], logs[0].read_text()[-2000:]
    raw = recorder.messages[0][2].decode().replace("=\r\n", "")
    assert f"{live.base_url}/confirm/" in raw
    assert "newsletter.send_confirmation" in logs[0].read_text()
