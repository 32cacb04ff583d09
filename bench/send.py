"""Send throughput: Celery workers on PostgreSQL and Redis, over SMTP into Postfix's smtp-sink.

Floor (measured after the first size and again after the last; the faster run counts): a
minimal pipelined SMTP client on a plain socket (one connection; MAIL, RCPT and DATA in
one write, three replies, then the body and its dot, one reply) sending ``--floor-messages``
copies of a real digest, built by the project's compose path, to the same smtp-sink: the
fastest this sink takes on one connection. Ours, for each of ``--sizes``, on a freshly created
PostgreSQL database with fresh ``--workers`` (``celery -A worker worker --pool=solo``):
confirmed subscribers bulk-inserted, 10 reviews of the week and its issue built, untimed; then
``send_issue`` with a ``CeleryDispatcher`` ("rows created": the ``INSERT ... SELECT``, the
variants, the queued batches) and the database polled every 0.5 s until no row is queued or
sending. Each worker's peak RSS (``VmHWM``; a solo worker sends in its own process) is read
before it stops. CPU used during the send is shown per party in % of one core ("others":
everything else on the machine). Prints msg/s, ours/floor, and whether the targets hold: end
to end at least half the floor (0.4 with ``--dkim``); worker peak RSS within 10% from the
smallest size to the largest.

``--dkim``: the workers DKIM-sign every message (RSA 2048; with ``--ed25519`` an Ed25519
signature too), through ``make_transport`` as in production. After each size, a sample of
``--verify`` recipients' digests, built the way a worker builds them from the stored variant,
goes through the same ``make_transport`` (signing, then SMTP) to a second smtp-sink that dumps
what it receives (``-d``; the timed sink dumps nothing, so its speed is unchanged); dkimpy
verifies every signature of every dumped message against the TXT records the signer gives
(``txt_records()``, as a stub DNS), and the run fails if one does not verify.

    .venv/bin/python bench/send.py [--sizes 10000,100000] [--workers 2] [--batch-size 500]
        [--floor-messages 20000] [--sync-commit-every 50] [--pg-url URL] [--broker-url URL]
        [--dkim [--ed25519] [--verify 20]] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import redis
from sqlalchemy import String, case, cast, create_engine, func, insert, literal, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.links import recipient_values
from newsletter.compose.message import issue_template
from newsletter.compose.message_ids import digest_id
from newsletter.config import Settings
from newsletter.db import make_engine, session_factory, transaction, upgrade
from newsletter.delivery.dispatch import CeleryDispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.ingest.records import ReviewRecord
from newsletter.ingest.store import store_reviews
from newsletter.issues.build import build_issue
from newsletter.issues.content import load_content
from newsletter.issues.variants import stored_variant
from newsletter.jobs.celery_app import create_celery
from newsletter.mail import make_transport
from newsletter.mail.dkim import DkimSigner, generate_ed25519_key, generate_key
from newsletter.mail.transport import Envelope
from newsletter.models import Delivery, IssueVariant, Subscriber, SubscriberStatus
from newsletter.tokens import Signer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers.workers import start_worker, stop, tails, wait_ready

ROOT = Path(__file__).resolve().parents[1]
SINK = "/usr/sbin/smtp-sink"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/newsletter_bench_send"
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
SYSTEM_DATABASES = frozenset({"postgres", "template0", "template1"})
NOW = datetime(2026, 11, 27, 15, tzinfo=UTC)
SECRET = secrets.token_urlsafe(32)  # shared with the workers through their environment
SECTIONS = ("Film", "TV", "Anime", "Comics", "Video Games", "Tabletop")
OPEN = ("queued", "sending")
TICK = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count() or 1


@dataclass
class Outcome:
    size: int
    created: float  # seconds: delivery rows inserted, variants rendered, batches queued
    total: float  # seconds from send_issue to the last row done
    ready_rss: list[float]  # VmHWM of each worker once ready, MiB
    peak_rss: list[float]  # VmHWM of each worker after the send, MiB
    cpu: dict[str, float]  # CPU seconds during the send: workers, postgres, smtp-sink, machine
    states: dict[str, int]
    verified: tuple[int, int, str] | None = None  # --dkim: (verified, signatures, algorithms)

    @property
    def sending(self) -> float:
        return self.total - self.created


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_sink(port: int, dump: Path | None = None) -> subprocess.Popen[bytes]:
    """smtp-sink, discarding everything unless ``dump`` (a folder) is given: then one file per
    message there. ``-u`` is required when run as root."""
    user = ["-u", "root"] if os.geteuid() == 0 else []
    dumping = ["-d", f"{dump}/%H%M%S."] if dump is not None else []
    command = [SINK, *user, *dumping, "-t", "600", f"127.0.0.1:{port}", "1000"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"smtp-sink did not listen on 127.0.0.1:{port}")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def backends_cpu(database: str) -> float:
    """CPU seconds of the live PostgreSQL backends connected to ``database``."""
    total = 0.0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            line = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if line.startswith(b"postgres:") and f" {database} ".encode() in line:
            total += cpu_seconds(int(entry.name))
    return total


def machine_cpu() -> float:
    """CPU seconds all processors spent busy since boot (``/proc/stat``), every process."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICK  # minus idle and iowait


# -- database ---------------------------------------------------------------------------------


def reset_postgres(url: str, *, create: bool = True) -> None:
    """Drop the database of ``url`` and (unless ``create`` is false) create it again."""
    target = make_url(url)
    name = target.database
    if not name or name in SYSTEM_DATABASES:
        raise SystemExit(f"refusing to drop and recreate database {name!r}")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            quoted = admin.dialect.identifier_preparer.quote(name)
            connection.execute(text(f"DROP DATABASE IF EXISTS {quoted}"))
            if create:
                connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        admin.dispose()


def load_subscribers(
    factory: sessionmaker[Session], size: int, masks: tuple[int, ...] = (0,)
) -> None:
    """``size`` confirmed subscribers, ``user0@example.com`` on, in one ``INSERT ... SELECT``
    over ``generate_series`` (a million in seconds); their section picks cycle through
    ``masks`` (0: every section). Then ANALYZE, as a live list is analyzed long before."""
    n = func.generate_series(0, size - 1).table_valued("n").render_derived()
    email = literal("user") + cast(n.c.n, String) + literal("@example.com")
    picks = case(dict(enumerate(masks)), value=n.c.n % len(masks), else_=0)
    rows = select(
        email,
        email,
        literal(SubscriberStatus.CONFIRMED.value),
        picks,
        literal(NOW, type_=Subscriber.__table__.c.created_at.type),
    ).select_from(n)
    columns = ["email", "email_key", "status", "category_mask", "created_at"]
    with transaction(factory) as session:
        session.execute(insert(Subscriber).from_select(columns, rows))
    with transaction(factory) as session:
        session.execute(text("ANALYZE subscribers"))


def week_issue(factory: sessionmaker[Session], settings: Settings) -> int:
    """The week's 10 reviews (every section) and its draft issue; returns the issue id."""
    reviews = [
        ReviewRecord(
            url=f"https://reviews.example.com/review-{i}/",
            title=f"REVIEW: ‘Title Number {i}’ Is Good",
            category=SECTIONS[i % len(SECTIONS)],
            author="Jo Park",
            published_at=NOW - timedelta(hours=6 + 12 * i),
            score=6 + i % 4,
            score_max=10,
            tldr="A TL;DR that reads like a real one, with a clause of judgement and a verdict.",
            excerpt="An excerpt.",
            image_url=f"https://cdn.example.com/{i}.jpg",
        )
        for i in range(10)
    ]
    with transaction(factory) as session:
        store_reviews(session, reviews, now=NOW)
    with transaction(factory) as session:
        return build_issue(session, settings, now=NOW).issue_id


def prepare(factory: sessionmaker[Session], settings: Settings, size: int) -> int:
    """Subscribers in bulk, the week's reviews and its draft issue; returns the issue id."""
    load_subscribers(factory, size)
    return week_issue(factory, settings)


def sample_message(
    factory: sessionmaker[Session], settings: Settings, issue_id: int, n: int = 0
) -> bytes:
    """Recipient ``n``'s digest, built the way a worker builds it: from the variant fan-out
    stored (all sections; links through the click redirect, as by default)."""
    with factory() as session:
        stored = session.get(IssueVariant, (issue_id, 0))
        assert stored is not None, "the send stores its variants"
        week = load_content(session, issue_id, settings.timezone).week_key
        variant = stored_variant(stored)
    template = issue_template(variant, settings, week)
    recipient = recipient_values(
        Signer(SECRET.encode()),
        settings.base_url,
        issue_id=issue_id,
        subscriber_id=n + 1,
        email=f"user{n}@example.com",
        name=None,
        category_mask=0,
    )
    return template.build(
        recipient,
        to_name=None,
        message_id=digest_id(week, issue_id, n + 1, settings.mail_domain),
        date=NOW,
        unsubscribe_mailto=settings.unsubscribe_mailto,
    )


def open_rows(factory: sessionmaker[Session], issue_id: int) -> dict[str, int]:
    with factory() as session:
        rows = session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.issue_id == issue_id)
            .group_by(Delivery.state)
        )
        return {str(state.value): count for state, count in rows}


# -- measurements -----------------------------------------------------------------------------


def verify_sample(
    factory: sessionmaker[Session], settings: Settings, issue_id: int, count: int, folder: Path
) -> tuple[int, int, str]:
    """(signatures verified, signatures found, algorithms) over ``count`` recipients' digests
    sent through ``make_transport`` (signing, then SMTP) to a dumping smtp-sink and checked
    by dkimpy. Raises if a message arrives without the expected signatures."""
    signer = DkimSigner.from_settings(settings)
    assert signer is not None, "--dkim configures a signer"
    zone = {f"{name}.".encode(): value.encode() for name, value in signer.txt_records().items()}

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return zone.get(name)

    dump = folder / f"dump-{issue_id}"
    port = free_port()
    sink = start_sink(port, dump)
    transport = make_transport(settings.with_overrides(smtp_url=f"smtp://127.0.0.1:{port}"))
    try:
        for n in range(count):
            message = sample_message(factory, settings, issue_id, n)
            envelope = Envelope("bounces@reviews.example.com", f"user{n}@example.com", f"<{n}@b>")
            transport.send(envelope, message)
    finally:
        transport.close()
        sink.terminate()
        sink.wait()
    dumped = sorted(p for p in dump.rglob("*") if p.is_file())
    if len(dumped) != count:
        raise RuntimeError(f"the dumping smtp-sink holds {len(dumped)} messages, sent {count}")
    verified = found = 0
    algorithms: set[str] = set()
    for path in dumped:
        # smtp-sink writes LF line ends and its own X-Client-* fields on top (unsigned).
        received = path.read_bytes().replace(b"\n", b"\r\n")
        parsed = dkim.DKIM(received)
        fields = sum(1 for name, _ in parsed.headers if name.lower() == b"dkim-signature")
        if fields != len(zone):
            raise RuntimeError(f"{path}: {fields} DKIM-Signature fields, expected {len(zone)}")
        for idx in range(fields):
            found += 1
            if parsed.verify(idx=idx, dnsfunc=lookup):
                verified += 1
                algorithms.add(parsed.signature_fields[b"a"].decode())
    return verified, found, ", ".join(sorted(algorithms))


def floor(port: int, message: bytes, count: int) -> float:
    """Seconds for ``count`` messages over one raw pipelined connection."""
    sock = socket.create_connection(("127.0.0.1", port))
    replies = sock.makefile("rb")

    def expect(code: bytes) -> None:
        while (line := replies.readline())[3:4] == b"-":
            pass
        if not line.startswith(code):
            raise RuntimeError(f"smtp-sink answered {line!r}, expected {code!r}")

    expect(b"220")
    sock.sendall(b"EHLO bench.example.com\r\n")
    expect(b"250")
    envelope = b"MAIL FROM:<digest@reviews.example.com>\r\nRCPT TO:<user0@example.com>\r\nDATA\r\n"
    body = re.sub(rb"(?m)^\.", b"..", message)
    body += (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n"
    start = time.perf_counter()
    for _ in range(count):
        sock.sendall(envelope)
        expect(b"250")
        expect(b"250")
        expect(b"354")
        sock.sendall(body)
        expect(b"250")
    seconds = time.perf_counter() - start
    sock.sendall(b"QUIT\r\n")
    sock.close()
    return seconds


def ours(
    args: argparse.Namespace, size: int, sink: subprocess.Popen[bytes], port: int, folder: Path
) -> tuple[Outcome, bytes]:
    reset_postgres(args.pg_url)
    settings = Settings(
        database_url=args.pg_url,
        data_dir=folder,
        broker_url=args.broker_url,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key=SECRET,
        base_url="https://news.example.com",
        batch_size=args.batch_size,
        sync_commit_every=args.sync_commit_every,
    )
    if args.dkim:
        key = folder / "dkim.pem"
        key.write_bytes(generate_key(2048))
        settings = settings.with_overrides(dkim_selector="bench", dkim_private_key=key)
        if args.ed25519:
            ed = folder / "dkim-ed25519.pem"
            ed.write_bytes(generate_ed25519_key())
            settings = settings.with_overrides(
                dkim_ed25519_selector="bench-ed", dkim_ed25519_private_key=ed
            )
    engine = make_engine(settings)
    upgrade(engine)
    factory = session_factory(engine)
    started = time.perf_counter()
    issue_id = prepare(factory, settings, size)
    print(f"  {size:,} subscribers and the issue ready in {time.perf_counter() - started:.1f} s")
    redis.Redis.from_url(args.broker_url).flushdb()
    logs = [folder / f"worker-{size}-{n}.log" for n in range(args.workers)]
    workers = [start_worker(settings, f"w{n}", log) for n, log in enumerate(logs)]
    try:
        wait_ready(logs, workers)
        ready = [peak_rss_mib(w.pid) for w in workers]
        dispatcher = CeleryDispatcher(create_celery(settings))
        database = make_url(args.pg_url).database or ""

        def cpu() -> dict[str, float]:
            return {
                "workers": sum(cpu_seconds(w.pid) for w in workers),
                "postgres": backends_cpu(database),
                "smtp-sink": cpu_seconds(sink.pid),
                "machine": machine_cpu(),  # every process, ours and anyone else's
            }

        cpu0 = cpu()
        t0 = time.perf_counter()
        send_issue(factory, settings, issue_id, dispatcher, NOW)
        t1 = time.perf_counter()
        last, moved = -1, time.monotonic()
        while True:
            states = open_rows(factory, issue_id)
            pending = sum(states.get(s, 0) for s in OPEN)
            if pending == 0:
                break
            if pending != last:
                last, moved = pending, time.monotonic()
            elif time.monotonic() - moved > 120 or any(w.poll() is not None for w in workers):
                raise RuntimeError(f"the send stalled at {states}:\n{tails(logs)}")
            time.sleep(0.5)
        t2 = time.perf_counter()
        used = {k: v - cpu0[k] for k, v in cpu().items()}
        message = sample_message(factory, settings, issue_id)
        peak = [peak_rss_mib(w.pid) for w in workers]
        print(
            f"  {states.get('sent', 0):,} sent in {t2 - t0:.1f} s; rows by state {states}",
            flush=True,
        )
        verified = None
        if args.dkim:
            verified = verify_sample(factory, settings, issue_id, args.verify, folder)
            print(
                f"  dkimpy verified {verified[0]} of {verified[1]} signatures ({verified[2]}) "
                f"on {args.verify} digests signed and sent by make_transport",
                flush=True,
            )
    finally:
        stop(workers)
        engine.dispose()
    return Outcome(size, t1 - t0, t2 - t0, ready, peak, used, states, verified), message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="subscriber counts, in order")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--floor-messages", type=int, default=20_000)
    parser.add_argument(
        "--sync-commit-every",
        type=int,
        default=Settings().sync_commit_every,
        help="NEWSLETTER_SYNC_COMMIT_EVERY for the workers (1: every outcome waits for the disk)",
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="dropped and created for each size")
    parser.add_argument("--broker-url", default=DEFAULT_BROKER, help="flushed before each size")
    parser.add_argument(
        "--dkim", action="store_true", help="workers DKIM-sign every message (RSA 2048)"
    )
    parser.add_argument(
        "--ed25519", action="store_true", help="with --dkim: an Ed25519 signature as well"
    )
    parser.add_argument(
        "--verify", type=int, default=20, help="with --dkim: digests sampled for dkimpy to verify"
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and the database")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    folder = Path(tempfile.mkdtemp(prefix="bench-send-"))
    port = free_port()
    sink = start_sink(port)
    outcomes: list[Outcome] = []
    floors: list[float] = []  # seconds, measured after the first size and after the last
    message = b""
    try:
        for n in sizes:
            print(f"ours, {n:,} subscribers, {args.workers} workers ...", flush=True)
            outcome, message = ours(args, n, sink, port, folder)
            outcomes.append(outcome)
            if not floors or n == sizes[-1]:
                print(f"floor: {args.floor_messages:,} messages ...", flush=True)
                floors.append(floor(port, message, args.floor_messages))
    finally:
        sink.terminate()
        sink.wait()
        if args.keep:
            print(f"kept {folder} and {args.pg_url}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            with redis.Redis.from_url(args.broker_url) as broker:
                broker.flushdb()
            reset_postgres(args.pg_url, create=False)

    # The floor moves with whatever else the machine does; the faster run is the one we
    # compare against, so noise can only make our ratio look worse.
    floor_seconds = min(floors)
    floor_rate = args.floor_messages / floor_seconds
    runs = ", ".join(f"{args.floor_messages / f:,.0f}" for f in floors)
    print()
    print(f"message size            {len(message):,} bytes (one real digest, all sections)")
    print(
        f"outcome commits         every {args.sync_commit_every} waits for the disk "
        "(NEWSLETTER_SYNC_COMMIT_EVERY), the others return once committed in the server"
    )
    print(
        f"floor                   {floor_rate:,.0f} msg/s (raw pipelined client, one "
        f"connection, {args.floor_messages:,} messages in {floor_seconds:.2f} s; the faster "
        f"of {len(floors)} runs: {runs} msg/s)"
    )
    print(
        f"{'subscribers':>11} {'rows created':>13} {'end-to-end':>11} {'sending':>9} "
        f"{'worker RSS ready -> peak (MiB)':>31}  CPU during the send (% of one core)"
    )
    for o in outcomes:
        rss = ", ".join(f"{a:.0f}->{b:.0f}" for a, b in zip(o.ready_rss, o.peak_rss, strict=True))
        share = {k: v / o.total * 100 for k, v in o.cpu.items()}
        others = share["machine"] - share["workers"] - share["postgres"] - share["smtp-sink"]
        print(
            f"{o.size:>11,} {o.created:>11.2f} s {o.size / o.total:>7,.0f}/s "
            f"{o.size / o.sending:>7,.0f}/s {rss:>31}  workers {share['workers']:.0f}%, "
            f"postgres {share['postgres']:.0f}%, smtp-sink {share['smtp-sink']:.0f}%, "
            f"others {others:.0f}% (machine {share['machine']:.0f}% of {CPUS * 100}%)"
        )
    big, small = outcomes[-1], outcomes[0]
    ratio = big.size / big.total / floor_rate
    growth = max(big.peak_rss) / max(small.peak_rss) - 1
    target = 0.4 if args.dkim else 0.5
    signing = "no DKIM"
    if args.dkim:
        signing = "DKIM rsa-sha256" + (" + ed25519-sha256" if args.ed25519 else "")
    print(
        f"ratio                   ours end to end at {big.size:,} / floor = {ratio:.2f}, "
        f"{signing} (target >= {target}: {'met' if ratio >= target else 'MISSED'})"
    )
    for o in outcomes:
        if o.verified is not None:
            good, total, algorithms = o.verified
            print(
                f"dkim at {o.size:,}{'':<10}dkimpy verified {good}/{total} signatures "
                f"({algorithms}) on {args.verify} sampled digests"
                + ("" if good == total else ": FAILED")
            )
    if any(o.verified is not None and o.verified[0] != o.verified[1] for o in outcomes):
        raise SystemExit("some DKIM signatures did not verify")
    print(
        f"worker memory           peak RSS {max(small.peak_rss):.0f} MiB at {small.size:,}, "
        f"{max(big.peak_rss):.0f} MiB at {big.size:,}: {growth:+.1%} "
        f"({'grew more than 10%' if growth > 0.10 else 'flat, within 10%'})"
    )
    print(
        f"machine                 {CPUS} CPUs for workers, PostgreSQL, Redis, smtp-sink and "
        f"anything else running; load average at start {load}"
    )


if __name__ == "__main__":
    main()
