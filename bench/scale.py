"""Scale: a million subscribers on PostgreSQL and Redis, and whether any cost grows with them.

Three parts in one run, each on a database of its own, created fresh (dropped first) and
migrated with the project's Alembic migrations; confirmed subscribers are bulk-loaded with one
``INSERT ... SELECT`` over ``generate_series``, beside a suppression list a twentieth their
number (addresses no longer on the list), and the week's issue built, untimed:

1. **Fan-out**, at ``--fanout-small`` (100,000) and ``--subscribers`` (1,000,000): ``send_issue``
   with a ``CeleryDispatcher`` in a child process of its own (so only its memory counts):
   the delivery rows (one ``INSERT ... SELECT``), the variants and the move to ``sending``
   committed, then one batch task per ``--batch-size`` rows published on the broker (Redis DB
   9 by default, flushed first; its queue length is checked). Reported: rows created (to the
   commit), queued (to the last publish), the child's peak RSS (``VmHWM``) and its RSS before.
2. **Plans** at 1,000,000 delivery rows: at the start of the send, halfway, near the end (99%)
   and at the last batch (fewer than one batch left). The send is moved on between points by
   the real ``claim_batch``, each batch then marked sent in one ``UPDATE`` (what the outcomes
   leave, faster). Autovacuum is off for ``deliveries``: on a big table it does not come
   during a send (it waits for a fifth of the table to be dead), so every claim and outcome
   leaves dead index entries behind; this makes that worst case repeatable. At each point the
   statements of one claim (``claim_batch``, ``claimed_rows``) and of one real batch
   (``Sender.run_batch`` over an in-memory transport that defers one reader and refuses
   another's address: the outcomes sent, deferred and failed, the lease renewal, the finish
   check) are captured as the driver runs them (a psycopg cursor that records each query and
   its parameters), then run again under ``EXPLAIN (ANALYZE, BUFFERS)`` with those values in
   a transaction that is rolled back: planned for the values, and as a generic plan
   (``PREPARE`` and ``plan_cache_mode = force_generic_plan``: psycopg prepares a statement
   after five runs and PostgreSQL may then keep a generic plan); with the statistics the send
   left (none at the start), then after ``ANALYZE deliveries``. Every plan is checked: no Seq
   Scan of ``deliveries``, ``subscribers`` or ``suppressions``, no Sort of more than a batch of
   rows, no scan of one of them yielding more than ten batches of rows. The claim's ``UPDATE``
   writes a new version of each of its rows into every index of the table: its time is shown
   per row. The operator's view of the send (``issue_progress``) is timed at each point.
3. **Send**, ``--small`` (20,000) and ``--send`` (200,000) subscribers into Postfix's smtp-sink
   with ``--workers`` solo Celery workers, and the raw SMTP floor in the same run, both from
   ``bench/send.py`` (``ours`` and ``floor``; the floor after each size, the faster counts).

Targets, printed as PASS/FAIL (exit status 1 on a FAIL): the fan-out of ``--subscribers``
under 30 s with a peak RSS within 10% of the small fan-out's; every statement that finds a
claim's rows or records an outcome under 1 ms at every point but the last batch (whose claim
reads below the last row sent once, as it must: shown, not held to 1 ms); no plan that scans
or sorts the issue's rows; the send's ratio (end to end / floor) at ``--send`` no more than
15% below the ratio at ``--small``.

    .venv/bin/python bench/scale.py [--subscribers 1000000] [--fanout-small 100000]
        [--send 200000] [--small 20000] [--workers 2] [--batch-size 200]
        [--floor-messages 20000] [--pg-url URL] [--send-pg-url URL] [--broker-url URL]
        [--plans all|points|none] [--skip-send] [--keep]

Needs PostgreSQL (the databases of ``--pg-url`` and ``--send-pg-url`` are dropped, created
and dropped again unless ``--keep``; about 2 GB of disk at a million), Redis, and
``/usr/sbin/smtp-sink`` (Debian's postfix) for the send. About 5 minutes on two cores: run it
on a quiet machine (the load average is printed with each part).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

import psycopg
import redis
from psycopg import sql
from psycopg.abc import Params
from send import (
    NOW,
    SECRET,
    floor,
    free_port,
    load_subscribers,
    ours,
    reset_postgres,
    start_sink,
    week_issue,
)
from sqlalchemy import Engine, event, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import make_engine, session_factory, transaction, upgrade
from newsletter.delivery.claim import ClaimedRow, claim_batch, claimed_rows
from newsletter.delivery.dispatch import CeleryDispatcher
from newsletter.delivery.fanout import FanoutResult, send_issue
from newsletter.delivery.outcomes import mark_sql
from newsletter.delivery.progress import issue_progress
from newsletter.delivery.sender import Sender
from newsletter.jobs.celery_app import create_celery
from newsletter.mail.memory import MemoryTransport
from newsletter.mail.replies import Stage, Verdict
from newsletter.mail.transport import (
    DeliveryError,
    Envelope,
    PermanentFailure,
    Ready,
    TemporaryFailure,
)
from newsletter.models import Delivery, DeliveryState, utcnow

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/newsletter_scale"
DEFAULT_SEND_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/newsletter_scale_send"
DEFAULT_BROKER = "redis://127.0.0.1:6379/9"
QUEUE = "newsletter"  # the Celery queue batch tasks go to (celery_app's task_default_queue)
KEY_VARIABLE = "NEWSLETTER_SECRET_KEY"  # the workers and the fan-out child sign with it
# Section picks cycled through the subscribers of the fan-out (0: every section): five
# variants of a ten-review issue over six sections, as a real list has several.
MASKS = (0, 0, 0, 0, 0, 0, 1, 6, 12, 48)
TARGET_FANOUT_S = 30.0
TARGET_QUERY_MS = 1.0
FLAT = 0.10  # peak RSS growth allowed from the small fan-out to the big one
SAME_RATIO = 0.15  # send ratio drop allowed from --small to --send


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_mib(field_name: str) -> float:
    """This process's ``VmRSS`` or ``VmHWM`` (peak), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_settings(pg_url: str, broker_url: str, batch_size: int, folder: Path) -> Settings:
    return Settings(
        database_url=pg_url,
        data_dir=folder,
        broker_url=broker_url,
        secret_key=os.environ[KEY_VARIABLE],
        base_url="https://news.example.com",
        batch_size=batch_size,
    )


def fresh_database(settings: Settings, size: int) -> tuple[Engine, sessionmaker[Session], int]:
    """Drop, create and migrate ``settings``' database; ``size`` subscribers and the week's
    draft issue in it. Returns the engine, its session factory and the issue's id."""
    reset_postgres(settings.database_url)
    engine = make_engine(settings)
    upgrade(engine)
    with engine.begin() as conn:  # the worst case, repeatable (the docstring says why)
        conn.execute(text("ALTER TABLE deliveries SET (autovacuum_enabled = false)"))
    factory = session_factory(engine)
    load_subscribers(factory, size, MASKS)
    # A list that has lived has a suppression list too, and every claim asks it of each
    # reader: addresses that are no longer subscribers (unsubscribed and forgotten, bounced
    # and removed), so that the fan-out's count stays the list's.
    with engine.begin() as conn:
        conn.execute(SUPPRESS, {"count": size // 20})
        conn.execute(text("ANALYZE suppressions"))
    return engine, factory, week_issue(factory, settings)


SUPPRESS = text(
    "INSERT INTO suppressions (email_key, email_hash, reason, created_at) "
    "SELECT 'gone' || n || '@example.com', "
    "encode(sha256(convert_to('gone' || n || '@example.com', 'UTF8')), 'hex'), "
    "'unsubscribed', now() FROM generate_series(1, :count) AS n"
)


# -- 1. fan-out ------------------------------------------------------------------------------


@dataclass
class Fanout:
    size: int
    rows_s: float  # send_issue's start to the commit of rows, variants and status
    total_s: float  # to the last batch task published
    batches: int
    queued: int  # batch tasks found on the broker afterwards
    variants: int
    rss_before: float  # MiB, the child ready to fan out (imports, engine, broker connected)
    rss_peak: float  # MiB, VmHWM after the fan-out
    load: str


class TimedDispatcher:
    """The Celery dispatcher, noting when ``send_issue`` hands it the batches (after the
    commit) and when the last one is published."""

    def __init__(self, inner: CeleryDispatcher) -> None:
        self.inner = inner
        self.called = 0.0
        self.done = 0.0

    def dispatch(self, issue_id: int, batches: int) -> None:
        self.called = time.perf_counter()
        self.inner.dispatch(issue_id, batches)
        self.done = time.perf_counter()


def fanout_child(args: argparse.Namespace) -> None:
    """In the child: fan the issue out, print the figures as one JSON line."""
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-child-"))
    settings = bench_settings(args.pg_url, args.broker_url, args.batch_size, folder)
    engine = make_engine(settings)
    factory = session_factory(engine)
    celery = CeleryDispatcher(create_celery(settings))
    celery.check()  # as `issue send` does before it changes anything
    dispatcher = TimedDispatcher(celery)
    before = rss_mib("VmRSS")
    started = time.perf_counter()
    result: FanoutResult = send_issue(factory, settings, args.child_fanout, dispatcher, NOW)
    figures = {
        "rows_s": dispatcher.called - started,
        "total_s": dispatcher.done - started,
        "batches": result.batches,
        "recipients": result.recipients,
        "variants": result.variants,
        "rss_before": before,
        "rss_peak": rss_mib("VmHWM"),
    }
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(figures))


def measure_fanout(args: argparse.Namespace, size: int, folder: Path) -> Fanout:
    settings = bench_settings(args.pg_url, args.broker_url, args.batch_size, folder)
    started = time.perf_counter()
    engine, _, issue_id = fresh_database(settings, size)
    engine.dispose()
    print(f"  {size:,} subscribers and the issue ready in {time.perf_counter() - started:.1f} s")
    broker = redis.Redis.from_url(args.broker_url)
    broker.flushdb()
    load = loadavg()
    child = [sys.executable, __file__, "--child-fanout", str(issue_id)]
    child += ["--pg-url", args.pg_url, "--broker-url", args.broker_url]
    child += ["--batch-size", str(args.batch_size)]
    done = subprocess.run(child, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the fan-out child failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["recipients"] != size:
        raise RuntimeError(f"{figures['recipients']:,} delivery rows created, expected {size:,}")
    queued = int(broker.llen(QUEUE))
    broker.flushdb()  # no worker will take them
    broker.close()
    if queued != figures["batches"]:
        dispatched = figures["batches"]
        raise RuntimeError(f"{queued:,} batch tasks on the broker, {dispatched:,} dispatched")
    return Fanout(
        size,
        figures["rows_s"],
        figures["total_s"],
        figures["batches"],
        queued,
        figures["variants"],
        figures["rss_before"],
        figures["rss_peak"],
        load,
    )


# -- 2. plans -------------------------------------------------------------------------------


class Recorder:
    """Statements as the driver ran them (query, named parameters), while recording."""

    def __init__(self) -> None:
        self.on = False
        self.statements: list[tuple[str, dict[str, Any]]] = []

    @contextmanager
    def recording(self) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        self.statements = []
        self.on = True
        try:
            yield self.statements
        finally:
            self.on = False


RECORDER = Recorder()


class RecordingCursor(psycopg.Cursor[Any]):
    """Every cursor of the probe's engine, SQLAlchemy's and the outcome log's raw one alike
    (it runs its prepared statement on the driver's cursor, below SQLAlchemy's events)."""

    def execute(
        self,
        query: Any,  # psycopg's Query; its alias and execute's own disagree on Template
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> Self:
        if RECORDER.on and isinstance(query, str):
            named = dict(params) if isinstance(params, Mapping) else {}
            RECORDER.statements.append((query, named))
        return super().execute(query, params, prepare=prepare, binary=binary)


def recording_engine(settings: Settings) -> Engine:
    engine = make_engine(settings)

    def use_recorder(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor_factory = RecordingCursor

    event.listen(engine, "connect", use_recorder)
    engine.dispose()  # make_engine's first connection was made before the listener
    return engine


@dataclass(frozen=True)
class Statement:
    label: str
    kind: str  # find (a claim's rows), take (the claim's UPDATE), outcome, other
    sql: str
    params: dict[str, Any]


OUTCOMES = {"sent": "sent", "queued": "deferred", "failed": "failed", "skipped": "skipped"}


def classify(sql_text: str, params: dict[str, Any], mark: str) -> Statement | None:
    """What a captured statement is, or None when it does not touch ``deliveries``."""
    flat = " ".join(sql_text.split())
    if flat.startswith("SELECT subscribers.id") and "subscribers.id IN" in flat:
        label = "claim: who may be mailed" if "EXISTS" in flat else "claim: the claimed rows"
        return Statement(label, "find", sql_text, params)
    if "deliveries" not in flat:
        return None
    if flat == mark:
        state = str(params.get("b_state"))
        return Statement(f"outcome: {OUTCOMES.get(state, state)}", "outcome", sql_text, params)
    locking = "FOR UPDATE" in flat
    rules = (
        (locking and "next_at <=" in flat, "claim: due retries", "find"),
        ("ORDER BY deliveries.issue_id DESC" in flat, "claim: the last row sent", "find"),
        (
            locking and "next_at IS NULL AND deliveries.id >" in flat,
            "claim: fresh, past it",
            "find",
        ),
        (locking and "deliveries.id <=" in flat, "claim: fresh, below it", "find"),
        (locking and "next_at IS NULL ORDER BY" in flat, "claim: fresh rows", "find"),
        (locking and "lease_until <" in flat, "claim: lapsed leases", "find"),
        (
            not locking and "next_at IS NULL AND deliveries.id >" in flat,
            "finish check: rows ahead",
            "other",
        ),
        (
            flat.startswith("UPDATE deliveries SET state") and "claimed_by=" in flat,
            "claim: take the rows",
            "take",
        ),
        (flat.startswith("UPDATE deliveries SET lease_until"), "lease renewal", "other"),
        (
            flat.startswith("UPDATE issues") and "EXISTS" in flat,
            "finish check",
            "other",
        ),
    )
    for matched, label, kind in rules:
        if matched:
            return Statement(label, kind, sql_text, params)
    return Statement(flat[:60], "other", sql_text, params)


PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def explain(cursor: psycopg.Cursor[Any], statement: Statement, generic: bool) -> dict[str, Any]:
    """The statement under EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) with its recorded values,
    planned for them or as a generic plan; the caller's transaction is rolled back."""
    head = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
    if not generic:
        cursor.execute(head + statement.sql, statement.params)
    else:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        body = PLACEHOLDER.sub(number, statement.sql).replace("%%", "%")
        cursor.execute(f"PREPARE scale_probe AS {body}")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        values = sql.SQL(", ").join(sql.Literal(statement.params[n]) for n in names)
        run = sql.SQL("EXECUTE scale_probe") + (
            sql.SQL(" ({})").format(values) if names else sql.SQL("")
        )
        cursor.execute(sql.SQL(head) + run)
    row = cursor.fetchone()
    assert row is not None
    plan: dict[str, Any] = row[0][0]
    if generic:
        cursor.execute("DEALLOCATE scale_probe")
    return plan


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def rows_of(node: dict[str, Any]) -> int:
    return int(node.get("Actual Rows", 0) * node.get("Actual Loops", 0))


BIG = ("deliveries", "subscribers", "suppressions")  # the tables that grow with the list


def shape_problems(plan: dict[str, Any], batch: int) -> list[str]:
    """What in a plan grows with the list: a Seq Scan of deliveries, subscribers or
    suppressions, a sort of more than a batch of rows, a scan of one of them or their indexes
    yielding more than ten batches of rows."""
    found = []
    for node in nodes(plan["Plan"]):
        kind = node["Node Type"]
        index = str(node.get("Index Name", ""))
        table = str(node.get("Relation Name", ""))
        ours = table in BIG or any(f"_{name}" in index for name in BIG)
        if kind == "Seq Scan" and ours:
            found.append(f"Seq Scan on {table}")
        if kind in ("Sort", "Incremental Sort"):
            fed = sum(rows_of(child) for child in node.get("Plans", []))
            if fed > batch:
                found.append(f"{kind} of {fed:,} rows")
        if ours and "Scan" in kind and rows_of(node) > 10 * batch:
            found.append(f"{kind} on {index or table}: {rows_of(node):,} rows")
    return found


def buffers(plan: dict[str, Any]) -> int:
    top = plan["Plan"]
    return int(top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0))


DETAILS = (
    "Index Cond",
    "Recheck Cond",
    "Filter",
    "Rows Removed by Filter",
    "Join Filter",
    "Hash Cond",
    "Sort Key",
    "Sort Method",
    "Heap Fetches",
    "Exact Heap Blocks",
)


def render(plan: dict[str, Any], width: int = 150) -> list[str]:
    """A plan in EXPLAIN's text layout, long conditions (200 ids) cut to ``width``."""
    lines: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        pad = "" if depth == 0 else "  " * (3 * depth - 2) + "->  "
        more = "  " * (3 * depth) + ("    " if depth else "  ")
        name = node["Node Type"]
        if node.get("Scan Direction") == "Backward":
            name += " Backward"
        if "Index Name" in node:
            name += f" using {node['Index Name']}"
        if "Relation Name" in node:
            name += f" on {node['Relation Name']}"
        if node.get("Subplan Name"):
            lines.append("  " * (3 * depth - 1) + node["Subplan Name"])
        if node.get("Actual Loops", 0):
            name += (
                f"  (actual time={node['Actual Startup Time']:.3f}.."
                f"{node['Actual Total Time']:.3f} rows={node['Actual Rows']} "
                f"loops={node['Actual Loops']})"
            )
        else:
            name += "  (never executed)"
        lines.append(pad + name)
        for key in DETAILS:
            if key in node:
                value = node[key]
                value = ", ".join(value) if isinstance(value, list) else value
                line = f"{more}{key}: {value}"
                lines.append(line if len(line) <= width else line[: width - 3] + "...")
        hit, read = node.get("Shared Hit Blocks", 0), node.get("Shared Read Blocks", 0)
        dirtied = node.get("Shared Dirtied Blocks", 0)
        if hit or read or dirtied:
            lines.append(f"{more}Buffers: shared hit={hit} read={read} dirtied={dirtied}")
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(plan["Plan"], 0)
    lines.append(f"Planning Time: {plan.get('Planning Time', 0):.3f} ms")
    lines.append(f"Execution Time: {plan['Execution Time']:.3f} ms")
    return lines


@dataclass
class Explained:
    point: str
    stats: str  # the statistics the plan saw: as the send left them, or just analyzed
    generic: bool
    statement: Statement
    plan: dict[str, Any]
    problems: list[str]

    @property
    def ms(self) -> float:
        return float(self.plan["Execution Time"])


class Paced(MemoryTransport):
    """The in-memory transport, taking ``delay`` seconds a message (so that a lease of the
    probe's length is renewed during its batch) and failing chosen recipients."""

    def __init__(self, failures: dict[str, DeliveryError], delay: float) -> None:
        super().__init__(failures=failures)
        self.delay = delay

    def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None:
        time.sleep(self.delay)
        super().send(envelope, message, ready)


PROBE_LEASE = 1.5  # seconds: the probe batch's heartbeat renews every 0.5 s, so it is seen


class Plans:
    """The million-row send's statements, explained at points of its progress."""

    def __init__(self, settings: Settings, issue_id: int, show: str) -> None:
        self.settings = settings
        self.issue_id = issue_id
        self.show = show
        self.batch = settings.batch_size
        self.engine = recording_engine(settings)
        self.factory = session_factory(self.engine)
        self.mark = " ".join(mark_sql(self.engine.dialect).split())
        url = make_url(settings.database_url).set(drivername="postgresql")
        self.raw = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        self.explained: list[Explained] = []
        self.progress_ms: dict[str, float] = {}
        self.claim_ms: list[tuple[int, float]] = []  # (rows sent before, wall ms) per claim
        self.sent = 0

    def close(self) -> None:
        self.raw.close()
        self.engine.dispose()

    def classify_all(self, captured: list[tuple[str, dict[str, Any]]]) -> list[Statement]:
        found = (classify(query, params, self.mark) for query, params in captured)
        return [s for s in found if s is not None]

    # -- moving the send on ---------------------------------------------------------------
    def advance(self, upto: int) -> None:
        """Claim with the real ``claim_batch`` and mark each batch sent in one UPDATE (what
        the outcomes would leave) until ``upto`` rows were sent."""
        lease = timedelta(seconds=self.settings.delivery_lease)
        while self.sent < upto:
            started = time.perf_counter()
            with transaction(self.factory) as session:
                claim = claim_batch(
                    session,
                    self.issue_id,
                    utcnow(),
                    "advance",
                    min(self.batch, upto - self.sent),
                    lease,
                )
            self.claim_ms.append((self.sent, (time.perf_counter() - started) * 1000))
            if claim is None or not claim.ids:
                return
            with transaction(self.factory) as session:
                session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(claim.ids), Delivery.claimed_by == claim.token)
                    .values(
                        state=DeliveryState.SENT,
                        sent_at=utcnow(),
                        lease_until=None,
                        last_error=None,
                        next_at=None,
                    )
                    .execution_options(synchronize_session=False)
                )
            self.sent += len(claim.ids)

    # -- probes ---------------------------------------------------------------------------
    def claim_probe(self) -> tuple[list[Statement], list[ClaimedRow]]:
        """One claim and its rows, captured, then rolled back."""
        lease = timedelta(seconds=self.settings.delivery_lease)
        with RECORDER.recording() as captured, self.factory() as session:
            session.begin()
            claim = claim_batch(session, self.issue_id, utcnow(), "probe", self.batch, lease)
            rows = claimed_rows(session, claim) if claim is not None and claim.ids else []
            session.rollback()
        return self.classify_all(captured), rows

    def batch_probe(self, rows: list[ClaimedRow]) -> list[Statement]:
        """One real batch (it sends and records, so the send moves on by a batch), captured;
        its claim is left out (``claim_probe`` explains the claim)."""
        failures: dict[str, DeliveryError] = {}
        if len(rows) > 2:
            failures[rows[1].email] = TemporaryFailure(
                "451 4.7.1 try again later", 451, stage=Stage.RCPT
            )
            # An address refusal: a refusal of the message itself would pause the issue
            # (every reader would get it), which is not the outcome wanted here.
            failures[rows[2].email] = PermanentFailure(
                "550 5.1.1 no such user", 550, verdict=Verdict.ADDRESS, stage=Stage.RCPT
            )
        transport = Paced(failures, delay=0.8 / self.batch)
        probe = self.settings.with_overrides(delivery_lease=PROBE_LEASE)
        sender = Sender(self.factory, probe, transport, worker_id="probe")
        try:
            with RECORDER.recording() as captured:
                result = sender.run_batch(self.issue_id)
        finally:
            sender.close()
        self.sent += result.claimed
        statements = self.classify_all(captured)
        return [s for s in statements if not s.label.startswith("claim:")]

    def replay(
        self, point: str, stats: str, statements: list[Statement], *, in_order: bool
    ) -> None:
        """Explain each statement, planned for its values and as a generic plan: in one
        transaction in their order when they build on each other (a claim), else one
        statement per transaction; every transaction is rolled back."""
        for generic in (False, True):
            groups = [statements] if in_order else [[s] for s in statements]
            for group in groups:
                with self.raw.transaction(force_rollback=True), self.raw.cursor() as cursor:
                    for statement in group:
                        plan = explain(cursor, statement, generic)
                        problems = shape_problems(plan, self.batch)
                        self.explained.append(
                            Explained(point, stats, generic, statement, plan, problems)
                        )

    def at(self, point: str, *, whole_batch: bool = True) -> None:
        """Explain at the send's current point, with the statistics the send left and again
        after ANALYZE; ``whole_batch`` also runs one real batch (outcomes, renewal, finish)."""
        for stats in ("as left", "analyzed"):
            if stats == "analyzed":
                with self.engine.begin() as conn:
                    conn.execute(text("ANALYZE deliveries"))
            claim, rows = self.claim_probe()
            self.replay(point, stats, claim, in_order=True)
            if whole_batch and rows:
                batch = self.batch_probe(rows)
                unique = list({s.label: s for s in batch}.values())
                self.replay(point, stats, unique, in_order=False)
            if stats == "as left":
                started = time.perf_counter()
                with self.factory() as session:
                    issue_progress(session, self.issue_id)
                self.progress_ms[point] = (time.perf_counter() - started) * 1000
            if not whole_batch:
                break  # the last batch: the probe would end the send


def run_plans(args: argparse.Namespace, settings: Settings, issue_id: int) -> Plans:
    plans = Plans(settings, issue_id, args.plans)
    total = args.subscribers
    points = (
        ("start", 0, True),
        ("halfway", total // 2, True),
        ("near the end", total * 99 // 100, True),
        ("last batch", total - plans.batch // 2, False),
    )
    try:
        for name, sent, whole in points:
            started = time.perf_counter()
            plans.advance(sent)
            moved = time.perf_counter() - started
            print(
                f"  {name}: {plans.sent:,} of {total:,} sent ({moved:.0f} s to get there; load "
                f"{loadavg()})",
                flush=True,
            )
            plans.at(name, whole_batch=whole)
    finally:
        plans.close()
    return plans


def print_plans(plans: Plans) -> None:
    """Every plan (--plans all) or, as planned for their values with the statistics the send
    left, the claim's, the outcomes' and any other that fails its check (--plans points);
    then one line per plan."""
    if plans.show != "none":
        for e in plans.explained:
            shown = e.statement.kind != "other" or e.problems
            mine = shown and e.stats == "as left" and not e.generic
            if plans.show == "all" or mine:
                how = "generic plan" if e.generic else "custom plan"
                print(f"\n--- {e.point}, stats {e.stats}, {how}: {e.statement.label}")
                print("    " + " ".join(e.statement.sql.split())[:300])
                for line in render(e.plan):
                    print("    " + line)
    print()
    print(
        f"{'point':<13} {'stats':<9} {'plan':<8} {'statement':<28} {'ms':>7} {'buffers':>8}  shape"
    )
    for e in plans.explained:
        shape = "; ".join(e.problems) or "ok"
        print(
            f"{e.point:<13} {e.stats:<9} {'generic' if e.generic else 'custom':<8} "
            f"{e.statement.label[:28]:<28} {e.ms:>7.3f} {buffers(e.plan):>8,}  {shape}"
        )


# -- 3. send ---------------------------------------------------------------------------------


@dataclass
class SendRun:
    size: int
    total_s: float
    floor_rate: float  # msg/s, the faster floor of the run
    load: str
    others: float  # % of one core used by processes not in the send, during it (send.py's CPU)

    @property
    def rate(self) -> float:
        return self.size / self.total_s

    @property
    def ratio(self) -> float:
        return self.rate / self.floor_rate


def run_send(args: argparse.Namespace, folder: Path) -> list[SendRun]:
    """bench/send.py's ``ours`` at ``--small`` and ``--send``, its ``floor`` after the first
    and after the last, on one smtp-sink."""
    options = argparse.Namespace(
        pg_url=args.send_pg_url,
        broker_url=args.broker_url,
        batch_size=args.batch_size,
        sync_commit_every=Settings().sync_commit_every,
        workers=args.workers,
        dkim=False,
        ed25519=False,
        verify=0,
    )
    port = free_port()
    sink = start_sink(port)
    floors: list[float] = []
    runs: list[tuple[int, float, str, float]] = []
    try:
        for size in (args.small, args.send):
            load = loadavg()
            print(f"ours, {size:,} subscribers, {args.workers} workers (load {load}) ...")
            outcome, message = ours(options, size, sink, port, folder)
            cpu = outcome.cpu
            others = cpu["machine"] - cpu["workers"] - cpu["postgres"] - cpu["smtp-sink"]
            runs.append((size, outcome.total, load, others / outcome.total * 100))
            print(f"floor: {args.floor_messages:,} messages (load {loadavg()}) ...", flush=True)
            floors.append(args.floor_messages / floor(port, message, args.floor_messages))
    finally:
        sink.terminate()
        sink.wait()
    print(f"  floor runs: {', '.join(f'{f:,.0f}' for f in floors)} msg/s (the faster counts)")
    best = max(floors)
    return [SendRun(size, total, best, load, others) for size, total, load, others in runs]


# -- the run ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--fanout-small", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=200_000, help="subscribers of the big send")
    parser.add_argument("--small", type=int, default=20_000, help="subscribers of the small send")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=Settings().batch_size)
    parser.add_argument("--floor-messages", type=int, default=20_000)
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="fan-out and plans (dropped first)")
    parser.add_argument("--send-pg-url", default=DEFAULT_SEND_PG, help="sends (dropped first)")
    parser.add_argument("--broker-url", default=DEFAULT_BROKER, help="flushed before each part")
    parser.add_argument("--plans", choices=("all", "points", "none"), default="points")
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--child-fanout", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_fanout is not None:
        fanout_child(args)
        return
    os.environ.setdefault(KEY_VARIABLE, SECRET)
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs, load average at start {loadavg()}")
    try:
        fanouts: list[Fanout] = []
        for size in (args.fanout_small, args.subscribers):
            print(f"fan-out, {size:,} subscribers ...", flush=True)
            fanouts.append(measure_fanout(args, size, folder))
        settings = bench_settings(args.pg_url, args.broker_url, args.batch_size, folder)
        engine = make_engine(settings)
        with engine.connect() as conn:
            issue_id = int(conn.execute(text("SELECT max(issue_id) FROM deliveries")).scalar_one())
            autovacuum = conn.execute(text("SHOW autovacuum")).scalar_one()
        engine.dispose()
        print(f"plans at {args.subscribers:,} rows (server autovacuum: {autovacuum}) ...")
        plans = run_plans(args, settings, issue_id)
        sends = [] if args.skip_send else run_send(args, folder)
    finally:
        if args.keep:
            print(f"kept {folder}, {args.pg_url} and {args.send_pg_url}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            with redis.Redis.from_url(args.broker_url) as broker:
                broker.flushdb()
            reset_postgres(args.pg_url, create=False)
            reset_postgres(args.send_pg_url, create=False)
    report(args, fanouts, plans, sends, time.perf_counter() - started)


def report(
    args: argparse.Namespace,
    fanouts: list[Fanout],
    plans: Plans,
    sends: list[SendRun],
    seconds: float,
) -> None:
    print_plans(plans)
    print()
    print("fan-out: send_issue in a child process (rows: to the commit of the delivery rows,")
    print("variants and status; queued: to the last batch task on the broker)")
    print(
        f"{'subscribers':>11} {'rows':>9} {'queued':>9} {'rows/s':>10} {'batches':>8} "
        f"{'on broker':>9} {'variants':>8}  child RSS ready -> peak   load average"
    )
    for f in fanouts:
        print(
            f"{f.size:>11,} {f.rows_s:>7.2f} s {f.total_s:>7.2f} s {f.size / f.total_s:>10,.0f} "
            f"{f.batches:>8,} {f.queued:>9,} {f.variants:>8}  {f.rss_before:>6.0f} -> "
            f"{f.rss_peak:.0f} MiB{'':>8} {f.load}"
        )
    total = args.subscribers
    tenths: dict[int, list[float]] = {}
    for sent, ms in plans.claim_ms:
        tenths.setdefault(min(9, sent * 10 // total), []).append(ms)
    print()
    print("claim_batch wall time (a transaction: claim, commit), mean by progress of the send:")
    print(
        "  "
        + ", ".join(f"{10 * k}%: {sum(v) / len(v):.1f} ms" for k, v in sorted(tenths.items()) if v)
    )
    print(
        "operator's view (issue_progress, stats as left): "
        + ", ".join(f"{point} {ms:.0f} ms" for point, ms in plans.progress_ms.items())
    )
    takes = [e for e in plans.explained if e.statement.kind == "take"]
    if takes:
        worst = max(takes, key=lambda e: e.ms)
        print(
            f"the claim's UPDATE of its {plans.batch} rows: {min(e.ms for e in takes):.2f} to "
            f"{worst.ms:.2f} ms ({worst.ms * 1000 / plans.batch:.1f} µs a row: every index of "
            "the table gets the row's new version; the same at every point)"
        )
    if sends:
        print()
        print(f"send: {args.workers} workers, batches of {args.batch_size}, into smtp-sink")
        for r in sends:
            print(
                f"  {r.size:>9,} subscribers: {r.rate:,.0f} msg/s end to end ({r.total_s:.1f} s), "
                f"floor {r.floor_rate:,.0f} msg/s, ratio {r.ratio:.2f} (load {r.load}; other "
                f"processes used {r.others:.0f}% of one core meanwhile)"
            )
    print()
    lines: list[tuple[bool, str]] = []
    small, big = fanouts[0], fanouts[-1]
    lines.append(
        (
            big.total_s < TARGET_FANOUT_S,
            f"fan-out of {big.size:,} in {big.total_s:.1f} s (target under "
            f"{TARGET_FANOUT_S:.0f} s; {small.size:,} took {small.total_s:.1f} s, "
            f"x{big.total_s / small.total_s:.1f} for x{big.size / small.size:.0f} the rows)",
        )
    )
    growth = big.rss_peak / small.rss_peak - 1
    lines.append(
        (
            growth <= FLAT,
            f"fan-out peak RSS {small.rss_peak:.0f} MiB at {small.size:,}, {big.rss_peak:.0f} "
            f"MiB at {big.size:,}: {growth:+.1%} (target within {FLAT:.0%})",
        )
    )
    for kind, name in (("find", "claim"), ("outcome", "outcome")):
        timed = [e for e in plans.explained if e.statement.kind == kind and e.point != "last batch"]
        if timed:
            worst = max(timed, key=lambda e: e.ms)
            lines.append(
                (
                    worst.ms < TARGET_QUERY_MS,
                    f"{name} statements at {total:,} rows: slowest {worst.ms:.3f} ms "
                    f"({worst.statement.label}, {worst.point}, stats {worst.stats}, "
                    f"{'generic' if worst.generic else 'custom'} plan; target under "
                    f"{TARGET_QUERY_MS:.0f} ms; {len(timed)} plans)",
                )
            )
    last = [e for e in plans.explained if e.point == "last batch" and e.statement.kind == "find"]
    if last:
        slowest = max(last, key=lambda e: e.ms)
        print(
            f"the last batch's claim (shown, not held to {TARGET_QUERY_MS:.0f} ms): slowest "
            f"{slowest.ms:.2f} ms ({slowest.statement.label}, {buffers(slowest.plan):,} buffers)"
        )
    bad = [e for e in plans.explained if e.problems]
    named = sorted({f"{e.statement.label} ({e.point}): {'; '.join(e.problems)}" for e in bad})
    lines.append(
        (
            not bad,
            f"no plan scans or sorts the issue's rows ({len(plans.explained)} plans)"
            + ("" if not bad else ": " + " | ".join(named)),
        )
    )
    if len(sends) == 2:
        low, high = sends
        kept = high.ratio / low.ratio
        lines.append(
            (
                kept >= 1 - SAME_RATIO,
                f"send ratio {high.ratio:.2f} at {high.size:,} against {low.ratio:.2f} at "
                f"{low.size:,}: {kept - 1:+.0%} (target: no more than {SAME_RATIO:.0%} lower)",
            )
        )
    for ok, line in lines:
        print(f"{verdict(ok)}  {line}")
    print(f"(run took {seconds / 60:.1f} min; load average at the end {loadavg()})")
    if not all(ok for ok, _ in lines):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
