"""Recording outcomes: each message's mark is committed before the next message can leave,
a failed write stops the batch without sending more, and PostgreSQL connections go back to the
pool with their usual commit mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.fanout import start_send
from newsletter.delivery.outcomes import OutcomeLog, RecordError
from newsletter.delivery.sender import Sender
from newsletter.mail.memory import MemoryTransport
from newsletter.mail.transport import Envelope, Ready
from newsletter.models import Delivery, DeliveryState, Subscriber
from tests.helpers.factories import issue_with, review

NOW_EMAILS = [f"r{i}@example.com" for i in range(7)]


def start(factory: sessionmaker[Session], settings: Settings) -> int:
    issue_id = issue_with(factory, settings, [review("a", "Film")], NOW_EMAILS)
    with transaction(factory) as session:
        from newsletter.models import utcnow

        start_send(session, settings, issue_id, utcnow())
    return issue_id


def sent_to(factory: sessionmaker[Session]) -> set[str]:
    with factory() as session:
        rows = session.scalars(
            select(Subscriber.email)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.state == DeliveryState.SENT)
        )
        return set(rows)


@pytest.mark.parametrize("sync_every", [1, 3, 50])
def test_every_mark_is_committed_before_the_next_message_leaves(
    factory: sessionmaker[Session], settings: Settings, sync_every: int
) -> None:
    """The exactly-once invariant, observed from outside the worker: whenever a message is
    handed over, every message handed over before it is already marked sent."""
    issue_id = start(factory, settings.with_overrides(sync_commit_every=sync_every))
    handed: list[str] = []
    violations: list[str] = []

    class Watching(MemoryTransport):
        def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None:
            if ready is not None:
                ready()
            missing = set(handed) - sent_to(factory)  # another connection: committed only
            if missing:
                violations.append(f"{envelope.rcpt_to} went while {missing} were unmarked")
            handed.append(envelope.rcpt_to)
            super().send(envelope, message)

    transport = Watching()
    sender = Sender(
        factory, settings.with_overrides(sync_commit_every=sync_every), transport, worker_id="w"
    )
    assert sender.run_batch(issue_id).sent == len(NOW_EMAILS)
    assert violations == []
    assert sent_to(factory) == set(NOW_EMAILS)  # the last one too, at the end of the batch


@contextmanager
def failing_marks(engine: Engine, email: str) -> Iterator[None]:
    """A database that refuses to mark ``email``'s delivery sent (a trigger raises), as a
    server that goes away mid-batch would."""
    with engine.begin() as conn:
        who = conn.scalar(select(Subscriber.id).where(Subscriber.email == email))
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION fail_mark() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'simulated write failure'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER fail_mark BEFORE UPDATE ON deliveries FOR EACH ROW "
                f"WHEN (NEW.state = 'sent' AND NEW.subscriber_id = {who}) "
                "EXECUTE FUNCTION fail_mark()"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER fail_mark BEFORE UPDATE OF state ON deliveries "
                f"WHEN NEW.state = 'sent' AND NEW.subscriber_id = {who} "
                "BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END"
            )
    try:
        yield
    finally:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("DROP TRIGGER fail_mark ON deliveries")
                conn.exec_driver_sql("DROP FUNCTION fail_mark()")
            else:
                conn.exec_driver_sql("DROP TRIGGER fail_mark")


def test_a_failed_mark_stops_the_batch_before_another_message_goes(
    factory: sessionmaker[Session], engine: Engine, settings: Settings
) -> None:
    issue_id = start(factory, settings)
    transport = MemoryTransport()
    sender = Sender(factory, settings, transport, worker_id="w")
    with (
        failing_marks(engine, NOW_EMAILS[2]),
        pytest.raises(RecordError, match="simulated write failure"),
    ):
        sender.run_batch(issue_id)
    # messages 1 and 2 were marked; 3 went out but its mark failed, so 4 never left: the
    # one message without a mark is the duplicate a dead worker may cause, no more
    assert transport.recipients == NOW_EMAILS[:3]
    assert sent_to(factory) == set(NOW_EMAILS[:2])
    with factory() as session:
        open_rows = session.scalars(
            select(Delivery.state).where(Delivery.state == DeliveryState.SENDING)
        ).all()
    assert len(open_rows) == len(NOW_EMAILS) - 2  # still leased: taken again once it runs out


def test_postgres_connections_go_back_with_synchronous_commit_on(
    engine: Engine, factory: sessionmaker[Session], settings: Settings
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    issue_id = start(factory, settings)
    Sender(factory, settings, MemoryTransport(), worker_id="w").run_batch(issue_id)
    with OutcomeLog(engine, "t", sync_every=50) as log:
        assert log._conn is not None
        relaxed = log._conn.exec_driver_sql("SHOW synchronous_commit").scalar()
    assert relaxed == "off"
    # every pooled connection, including the one the outcome log used, is back to normal
    connections = [engine.connect() for _ in range(3)]
    try:
        modes = {c.execute(text("SHOW synchronous_commit")).scalar() for c in connections}
    finally:
        for c in connections:
            c.close()
    assert modes == {"on"}


def test_postgres_waits_for_the_disk_every_nth_commit_and_at_the_end(
    engine: Engine,
    factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    issue_id = start(factory, settings)
    statements: list[str] = []

    class Spy:
        """The real driver cursor, noting each statement the outcome log runs on it."""

        def __init__(self, cursor: Any) -> None:
            self.cursor = cursor

        def execute(self, sql: str, params: Any = None) -> Any:
            statements.append("mark" if "last_error" in sql else sql)
            return self.cursor.execute(sql, params)

        @property
        def rowcount(self) -> int:
            return int(self.cursor.rowcount)

        def close(self) -> None:
            self.cursor.close()

    enter = OutcomeLog.__enter__

    def spying_enter(log: OutcomeLog) -> OutcomeLog:
        enter(log)
        log._cursor = Spy(log._cursor)
        return log

    monkeypatch.setattr(OutcomeLog, "__enter__", spying_enter)
    sender = Sender(factory, settings.with_overrides(sync_commit_every=3), MemoryTransport())
    sender.run_batch(issue_id)
    on, off = "SET synchronous_commit = on", "SET synchronous_commit = off"
    durable = [on, "mark", off]
    # 7 marks: the 3rd and the 6th wait for the disk, and the last one of the batch
    assert statements == [
        "mark", "mark", *durable,
        "mark", "mark", *durable,
        *durable,
    ]  # fmt: skip
    with factory() as session:
        assert session.scalar(text("SHOW synchronous_commit")) == "on"  # reset on return
