"""``newsletter demo``: the weekly job end to end on the embedded default, in seconds.

It runs the real pipeline (ingest of the shipped sample export, selection, composition,
fan-out and the batch sender) with SQLite in ``<data>/newsletter.db`` and the outbox folder as
the transport. The sample is dated around :data:`ANCHOR`; on the first run its dates are moved
by whole days so that the sample's week is this week, and the moved copy is kept in
``<data>/sample/`` so later runs ingest exactly the same input (and deliver nothing new).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.render import environments
from newsletter.config import Settings
from newsletter.db import make_engine, session_factory, transaction, upgrade
from newsletter.delivery.fanout import send_issue
from newsletter.errors import InputError
from newsletter.ingest import ingest_sources, parse_source
from newsletter.ingest.pageviews import PageViews
from newsletter.issues.build import build_issue
from newsletter.issues.content import load_content
from newsletter.jobs.dispatchers import dispatcher_for
from newsletter.mail.outbox import outbox_name
from newsletter.mail.transport import Envelope
from newsletter.models import Delivery, DeliveryState, IssueStatus, IssueVariant, Subscriber
from newsletter.sections import sections_of
from newsletter.subscribers.parse import parse_subscribers
from newsletter.subscribers.store import import_rows

ANCHOR = date(2026, 11, 27)
SAMPLE_FILES = ("reviews.jsonl", "pageviews.csv", "subscribers.csv")


@dataclass(frozen=True)
class DemoSummary:
    issue_id: int
    week_key: str
    new: int
    trending: int
    recipients: int
    delivered_now: int
    already_delivered: int
    outbox: Path
    index: Path
    subject: str


def shipped_sample() -> Path:
    return Path(str(files("newsletter"))) / "sample"


def _shift_dates(data: bytes, days: int, name: str) -> bytes:
    """Move every date of a sample file by ``days`` (JSON Lines: published_at; CSV: date)."""
    text = data.decode("utf-8")
    if name.endswith(".jsonl"):
        out = []
        for line in text.splitlines():
            row = json.loads(line)
            moved = datetime.fromisoformat(row["published_at"]) + timedelta(days=days)
            row["published_at"] = moved.isoformat(timespec="seconds")
            out.append(json.dumps(row, ensure_ascii=False))
        return ("\n".join(out) + "\n").encode()
    if name == "pageviews.csv":
        lines = text.splitlines()
        moved_lines = [lines[0]]
        for line in lines[1:]:
            url, day, views = line.rsplit(",", 2)
            moved_lines.append(f"{url},{date.fromisoformat(day) + timedelta(days=days)},{views}")
        return ("\n".join(moved_lines) + "\n").encode()
    return data


def validate_sample(folder: Path, site_url: str) -> None:
    """Parse every sample file strictly: any rejection means the sample is corrupt."""
    for name in SAMPLE_FILES:
        path = folder / name
        try:
            data = path.read_bytes()
            if name == "subscribers.csv":
                subscribers = parse_subscribers(data, str(path))
                problems = [str(r) for r in subscribers.rejected]
            else:
                fmt = "jsonl" if name.endswith(".jsonl") else "pageviews"
                parsed = parse_source(str(path), data, fmt, site_url)
                problems = [str(r) for r in parsed.rejections]
                if not isinstance(parsed, PageViews) and not parsed.records:
                    problems.append("no records")
        except OSError as exc:
            raise InputError(f"sample file {path}: {exc.strerror}") from exc
        except (ValueError, KeyError) as exc:
            raise InputError(f"sample file {path}: corrupt: {exc}") from exc
        if problems:
            raise InputError(f"sample file {path}: corrupt: {problems[0]}")


def prepare_sample(source: Path, target: Path, today: date, site_url: str) -> Path:
    """Copy the sample into ``target`` with its dates moved to this week (first run only)."""
    validate_sample(source, site_url)
    if all((target / n).is_file() for n in SAMPLE_FILES):
        validate_sample(target, site_url)
        return target
    days = (today - ANCHOR).days
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in SAMPLE_FILES:
        try:
            moved = _shift_dates((source / name).read_bytes(), days, name)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise InputError(f"sample file {source / name}: corrupt: {exc}") from exc
        (staging / name).write_bytes(moved)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def embedded(settings: Settings, data_dir: Path | None = None) -> Settings:
    """``settings`` made embedded: SQLite in ``data_dir`` (default: ``NEWSLETTER_DATA_DIR``),
    no broker, no SMTP server, no Redis, no send rate and no DKIM: the demo runs the same,
    and as fast, on any machine."""
    folder = data_dir or settings.data_dir
    return settings.with_overrides(
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'newsletter.db'}",
        smtp_url=None,
        broker_url=None,
        redis_url=None,
        send_rate=None,
        domain_rate=None,
        dkim_selector=None,
        dkim_private_key=None,
        dkim_ed25519_selector=None,
        dkim_ed25519_private_key=None,
    )


def run_demo(
    settings: Settings, *, sample: Path | None = None, now: datetime | None = None
) -> DemoSummary:
    """The main job on the embedded default; safe to run again (it delivers nothing new)."""
    now = now or datetime.now(UTC)
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / ".write-test").write_bytes(b"")
        (data_dir / ".write-test").unlink()
    except OSError as exc:
        raise InputError(f"data folder {data_dir}: not writable: {exc.strerror}") from exc
    folder = prepare_sample(
        sample or shipped_sample(), data_dir / "sample", now.date(), settings.site_url
    )
    engine = make_engine(settings)
    try:
        upgrade(engine)
        factory = session_factory(engine)
        subscribers = parse_subscribers((folder / "subscribers.csv").read_bytes(), "sample")
        with transaction(factory) as session:
            # the sample's "confirmed" rows consented (it is ours), as with --confirmed
            import_rows(
                session, subscribers.accepted, confirmed=True, source="demo sample", now=now
            )
        reports = ingest_sources(
            factory,
            [str(folder / "reviews.jsonl"), str(folder / "pageviews.csv")],
            settings.site_url,
        )
        failed = [r.error for r in reports if r.error]
        if failed:
            raise InputError(failed[0] or "sample ingest failed")
        with transaction(factory) as session:
            built = build_issue(session, settings, now=now)
            status = built.status
        before = _sent_count(factory, built.issue_id)
        if status in (IssueStatus.DRAFT, IssueStatus.SENDING):  # SENDING: finish a cut-off run
            dispatcher = dispatcher_for(settings, factory)  # in this process, to the outbox
            try:
                send_issue(factory, settings, built.issue_id, dispatcher, now)
            finally:
                dispatcher.close()
        after = _sent_count(factory, built.issue_id)
        index = write_index(factory, settings, built.issue_id)
        with factory() as session:
            content = load_content(session, built.issue_id, settings.timezone)
            subject = content.resolved(settings.site_name).subject or ""
        return DemoSummary(
            built.issue_id,
            built.week_key,
            built.new,
            built.trending,
            after,
            after - before,
            before,
            settings.outbox_dir,
            index,
            subject,
        )
    finally:
        engine.dispose()


def _sent_count(factory: sessionmaker[Session], issue_id: int) -> int:
    with factory() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    Delivery.issue_id == issue_id, Delivery.state == DeliveryState.SENT
                )
            )
            or 0
        )


def write_index(factory: sessionmaker[Session], settings: Settings, issue_id: int) -> Path:
    """``<outbox>/index.html``: every message of the issue, with recipient and subject."""
    with factory() as session:
        rows = session.execute(
            select(
                Delivery.message_id,
                Subscriber.email,
                Subscriber.name,
                Delivery.state,
                Delivery.variant_mask,
                IssueVariant.subject,
            )
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .join(
                IssueVariant,
                (IssueVariant.issue_id == Delivery.issue_id)
                & (IssueVariant.mask == Delivery.variant_mask),
            )
            .where(Delivery.issue_id == issue_id)
            .order_by(Subscriber.email_key)
        ).all()
    entries = []
    for message_id, email, name, state, mask, subject in rows:
        file_name = outbox_name(Envelope(settings.sender_email, email, message_id))
        entries.append(
            {
                "file": file_name,
                "email": email,
                "name": name or "",
                "state": state.value,
                "sections": ", ".join(sections_of(mask)) or "all",
                "subject": subject,
            }
        )
    html_env, _ = environments()
    page = html_env.get_template("web/outbox_index.html.j2").render(
        site_name=settings.site_name, entries=entries
    )
    settings.outbox_dir.mkdir(parents=True, exist_ok=True)
    index = settings.outbox_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
