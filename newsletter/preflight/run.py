"""``newsletter issue check ID``: every check over the draft as it would go out, stored.

The sample is what a reader of every section gets (as the editor's preview renders it, through
the sender's own message builder), signed as the sender would sign it. Link answers are cached
per issue (``link_checks``): a good answer for :data:`GOOD_FOR`, a failure for :data:`RECHECK`
(a held send is checked again each minute; a fixed server is seen within minutes), and none
when ``fresh`` (an editor who asks again wants to know now). The report replaces the issue's
last one (``issue_checks``).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.budget import html_size
from newsletter.compose.content import Branding
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.errors import ConfigError
from newsletter.issues.content import get_issue, load_content
from newsletter.issues.preview import sample
from newsletter.mail.dkim import DkimSigner
from newsletter.models import IssueCheck, LinkCheck
from newsletter.preflight.auth import dkim_findings, policy_findings
from newsletter.preflight.content import (
    alt_findings,
    https_findings,
    line_findings,
    size_findings,
    urls,
)
from newsletter.preflight.dns import TxtLookup, system_lookup
from newsletter.preflight.findings import Finding, Report, dumps, loads, ordered
from newsletter.preflight.links import Answer, link_findings, make_client, probe_all
from newsletter.preflight.spam import spam_findings
from newsletter.preflight.unsubscribe import unsubscribe_findings

GOOD_FOR = timedelta(hours=24)
RECHECK = timedelta(minutes=5)


@dataclass(frozen=True)
class Probes:
    """How the check reaches the outside; the defaults are the real ones. Tests pass a stub
    DNS (``preflight.dns.stub``) and an httpx transport that trusts their local TLS server."""

    lookup: TxtLookup | None = None  # None: the system's resolver
    transport: httpx.BaseTransport | None = None  # for the links and the one-click POST
    spamassassin: str | None = None  # the command; None: found on PATH (or skipped)
    spam: bool = True  # False: SpamAssassin is not run (a note says so)


def _key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def _cached(session: Session, issue_id: int, now: datetime, fresh: bool) -> dict[str, Answer]:
    found: dict[str, Answer] = {}
    for row in session.scalars(select(LinkCheck).where(LinkCheck.issue_id == issue_id)):
        good = row.status is not None and row.status < 400
        if now - row.checked_at < (GOOD_FOR if good else RECHECK) and (good or not fresh):
            found[row.url] = Answer(row.url, row.status, row.final_url, row.error)
    return found


def _signed(settings: Settings, message: bytes) -> tuple[bytes | None, dict[str, str], Finding]:
    try:
        signer = DkimSigner.from_settings(settings)
    except ConfigError as exc:
        return None, {}, Finding("dkim", "error", str(exc), "fix the setting it names")
    if signer is None:
        return None, {}, Finding("dkim", "note", "DKIM signing is not configured")
    try:
        return signer.sign(message), signer.txt_records(), Finding("dkim", "note", "signed")
    except ValueError as exc:
        return None, {}, Finding("dkim", "error", f"the sample cannot be signed: {exc}")


def check_issue(
    factory: sessionmaker[Session],
    settings: Settings,
    issue_id: int,
    now: datetime,
    probes: Probes | None = None,
    *,
    fresh: bool = True,
) -> Report:
    """Check issue ``issue_id`` as it stands, store the report, and return it. Raises
    :class:`~newsletter.errors.NotFound` for an unknown issue; never for what it finds."""
    probes = probes or Probes()
    lookup = probes.lookup or system_lookup()
    with factory() as session:
        version = get_issue(session, issue_id).version
        content = load_content(session, issue_id, settings.timezone)
        cached = _cached(session, issue_id, now, fresh)
        broken: Finding | None = None
        try:
            html, message = sample(session, settings, issue_id)
        except ConfigError as exc:  # no message can be built: that is the one finding
            broken = Finding("settings", "error", str(exc), "fix the setting it names")
    if broken is not None:
        return _stored(factory, Report(issue_id, version, now, (broken,)), {})
    findings: list[Finding] = []
    findings += size_findings(html_size(content, Branding.from_settings(settings)), "all sections")
    findings += line_findings(message)
    findings += alt_findings(html)
    own = settings.base_url.rstrip("/") + "/"
    found = urls(html)
    findings += https_findings(found, own)
    signed, records, signing = _signed(settings, message)
    if signing.severity == "error":
        findings.append(signing)
    # SpamAssassin takes a second or two of its own: it runs while the links are asked
    pool = ThreadPoolExecutor(max_workers=1)
    spam = pool.submit(spam_findings, signed or message, probes.spamassassin, run=probes.spam)
    findings += dkim_findings(signed, records, lookup, settings.mail_domain)
    envelope = settings.verp[1] if settings.verp else settings.mail_domain
    findings += policy_findings(settings.mail_domain, envelope, lookup)
    wanted = [u for u in (*found.links, *found.images) if u.startswith("https://")]
    wanted = [u for u in wanted if not u.startswith(own)]  # the one-click check covers ours
    with make_client(settings.fetch_timeout, probes.transport) as client:
        answers = {u: cached[u] for u in wanted if u in cached}
        probed = probe_all(client, [u for u in wanted if u not in cached])
        answers.update(probed)
        findings += link_findings(
            {u: answers[u] for u in wanted if u in answers}, frozenset(found.images)
        )
        findings += unsubscribe_findings(message, client)
    findings += spam.result()
    pool.shutdown()
    return _stored(factory, Report(issue_id, version, now, ordered(findings)), probed)


def _stored(factory: sessionmaker[Session], report: Report, probed: dict[str, Answer]) -> Report:
    """``report`` and the answers of the URLs just asked, stored in one transaction."""
    issue_id, now = report.issue_id, report.checked_at
    with transaction(factory) as session:
        for answer in probed.values():
            session.merge(
                LinkCheck(
                    issue_id=issue_id,
                    url_key=_key(answer.url),
                    url=answer.url,
                    status=answer.status,
                    final_url=answer.final_url,
                    error=answer.error,
                    checked_at=now,
                )
            )
        store(session, report)
    return report


def store(session: Session, report: Report) -> None:
    session.merge(
        IssueCheck(
            issue_id=report.issue_id,
            version=report.version,
            checked_at=report.checked_at,
            errors=len(report.errors),
            warnings=len(report.warnings),
            findings=dumps(report.findings),
        )
    )


def last_report(session: Session, issue_id: int) -> Report | None:
    """The issue's last stored report, whatever version it checked."""
    row = session.get(IssueCheck, issue_id)
    if row is None:
        return None
    return Report(row.issue_id, row.version, row.checked_at, loads(row.findings))
