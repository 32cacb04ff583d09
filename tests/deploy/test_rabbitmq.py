"""RabbitMQ as the broker is a setting, not a rewrite: two real Celery workers take their
batches from RabbitMQ and send an issue to an aiosmtpd server on loopback, every recipient
exactly once, the send rate shared through NEWSLETTER_REDIS_URL; a broker that refuses us is
one line, not a traceback; a send rate without a Redis to share it is refused at start."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.dispatch import BrokerUnavailable, CeleryDispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.errors import ConfigError
from newsletter.jobs.celery_app import create_celery
from newsletter.models import DeliveryState, Issue, IssueStatus
from tests.helpers.env import NOW, free_port
from tests.helpers.factories import delivery_counts, issue_with, review
from tests.helpers.smtp import Recorder, serving
from tests.helpers.workers import start_worker, stop, tails, wait_ready


def test_a_send_rate_with_a_broker_that_is_not_redis_needs_a_redis_to_share_it() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(
            {"NEWSLETTER_BROKER_URL": "amqp://g:secret@mq//", "NEWSLETTER_SEND_RATE": "50"}
        )
    assert str(caught.value).startswith("NEWSLETTER_REDIS_URL: needed with NEWSLETTER_SEND_RATE")
    assert "(amqp://)" in str(caught.value) and "secret" not in str(caught.value)
    shared = Settings.from_mapping(
        {
            "NEWSLETTER_BROKER_URL": "amqp://g:secret@mq//",
            "NEWSLETTER_DOMAIN_RATE": "5",
            "NEWSLETTER_REDIS_URL": "redis://r/1",
        }
    )
    assert shared.limiter_url == "redis://r/1"
    # without a rate, or with a Redis broker (it carries the rate too), nothing more is needed
    assert Settings(broker_url="amqp://g:g@mq//").limiter_url is None
    assert Settings(broker_url="redis://b/0", send_rate=5.0).limiter_url == "redis://b/0"


def test_a_broker_that_cannot_be_reached_is_one_line() -> None:
    closed = f"amqp://guest:secret@127.0.0.1:{free_port()}//"
    dispatcher = CeleryDispatcher(create_celery(Settings(broker_url=closed)))
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as caught:
        dispatcher.check()
    assert time.monotonic() - started < 10
    assert str(caught.value).startswith("broker amqp://guest:***@127.0.0.1:")
    assert "secret" not in str(caught.value)


def test_a_broker_that_refuses_us_is_one_line_too(rabbitmq_url: str) -> None:
    """RabbitMQ refuses a wrong password and an unknown vhost with amqp's own errors, which
    are neither socket errors nor kombu's: they must still read as an unavailable broker."""
    host = rabbitmq_url.rpartition("@")[2].partition("/")[0]
    for url, reason in (
        (f"amqp://guest:wrong@{host}//", "ACCESS_REFUSED"),
        (f"amqp://guest:guest@{host}/no_such_vhost_here", "NOT_ALLOWED"),
    ):
        dispatcher = CeleryDispatcher(create_celery(Settings(broker_url=url)))
        for attempt in (dispatcher.check, lambda d=dispatcher: d.dispatch(1, 1)):
            with pytest.raises(BrokerUnavailable, match=reason):
                attempt()


def _wait_sent(factory: sessionmaker[Session], issue_id: int, logs: list[Path]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with factory() as session:
            if session.get_one(Issue, issue_id).status is IssueStatus.SENT:
                return
        time.sleep(0.2)
    pytest.fail("the issue was not sent in 90 s; worker logs:\n" + tails(logs))


@dataclass
class Fleet:
    settings: Settings
    recorder: Recorder
    logs: list[Path]


@pytest.fixture
def rabbit_fleet(
    settings: Settings, rabbitmq_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., Fleet]]:
    """``rabbit_fleet(**overrides)``: two solo workers on RabbitMQ, sending to an aiosmtpd
    recorder on loopback, the send rate shared through the test Redis."""
    processes: list[subprocess.Popen[bytes]] = []
    with ExitStack() as servers:

        def start(**overrides: object) -> Fleet:
            recorder = Recorder()
            port = servers.enter_context(serving(recorder))
            config = settings.with_overrides(
                broker_url=rabbitmq_url,
                redis_url=redis_url,  # the shared send rate: RabbitMQ cannot hold it
                send_rate=400,
                smtp_url=f"smtp://127.0.0.1:{port}",
                batch_size=10,
                **overrides,
            )
            logs = [tmp_path / f"rabbit{n}.log" for n in range(2)]
            processes.extend(start_worker(config, f"rabbit{n}", log) for n, log in enumerate(logs))
            wait_ready(logs, processes)
            return Fleet(config, recorder, logs)

        try:
            yield start
        finally:
            stop(processes)


def _exactly_once(fleet: Fleet, emails: list[str]) -> None:
    received = Counter(fleet.recorder.recipients)
    assert sorted(received) == emails and set(received.values()) == {1}


def test_two_workers_on_rabbitmq_send_every_recipient_exactly_once(
    rabbit_fleet: Callable[..., Fleet], factory: sessionmaker[Session]
) -> None:
    fleet = rabbit_fleet()
    emails = [f"reader{i:03d}@example.com" for i in range(120)]
    issue_id = issue_with(factory, fleet.settings, [review("a", "Film")], emails)
    dispatcher = CeleryDispatcher(create_celery(fleet.settings))
    send_issue(factory, fleet.settings, issue_id, dispatcher, NOW)
    _wait_sent(factory, issue_id, fleet.logs)
    _exactly_once(fleet, emails)
    assert delivery_counts(factory, issue_id) == {DeliveryState.SENT: len(emails)}
    texts = [log.read_text() for log in fleet.logs]
    assert all("amqp://guest:**@127.0.0.1:5672/" in text for text in texts)  # Celery's banner
    assert all("newsletter.deliver_batch" in text for text in texts), tails(fleet.logs)


class _Lost:
    """A dispatcher whose tasks never reach the broker: the rows stay queued with no task."""

    def dispatch(self, issue_id: int, batches: int) -> None:
        return None


def test_idle_workers_on_rabbitmq_rescue_rows_whose_task_was_lost(
    rabbit_fleet: Callable[..., Fleet], factory: sessionmaker[Session]
) -> None:
    """The ``Rescue`` timer runs on RabbitMQ as on Redis: rows queued with no task (a worker
    killed after taking it) are dispatched by an idle worker once the issue is quiet."""
    fleet = rabbit_fleet(delivery_lease=3)
    emails = [f"reader{i:03d}@example.com" for i in range(30)]
    issue_id = issue_with(factory, fleet.settings, [review("a", "Film")], emails)
    send_issue(factory, fleet.settings, issue_id, _Lost(), NOW)
    _wait_sent(factory, issue_id, fleet.logs)
    _exactly_once(fleet, emails)
    assert any("lost its task are queued again" in log.read_text() for log in fleet.logs)
