"""The real thing: a Celery worker process on a real Redis broker sends an issue."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from factories import NOW, issue_with, review
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.celery_app import create_celery
from newsletter.delivery.dispatch import CeleryDispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.models import Delivery, DeliveryState, Issue, IssueStatus

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def worker(settings: Settings, redis_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A ``celery -A worker worker`` process sharing the test's database and outbox."""
    redis.Redis.from_url(redis_url).flushdb()
    settings = settings.with_overrides(broker_url=redis_url, batch_size=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATABASE_URL=settings.database_url,
        NEWSLETTER_DATA_DIR=str(settings.data_dir),
        NEWSLETTER_BROKER_URL=redis_url,
        NEWSLETTER_SECRET_KEY=settings.secret_key or "",
        NEWSLETTER_BASE_URL=settings.base_url,
        NEWSLETTER_BATCH_SIZE="5",
    )
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-Q",
            "newsletter",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield settings
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


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
    log = (tmp_path / "worker.log").read_text()
    assert status is IssueStatus.SENT, log[-3000:]
    with factory() as session:
        sent = session.scalar(select(func.count()).where(Delivery.state == DeliveryState.SENT))
    assert sent == len(emails)
    files = sorted((worker.outbox_dir).glob("*.eml"))
    assert len(files) == len(emails)
    assert "newsletter.deliver_batch" in log
