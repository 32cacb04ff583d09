"""What the weekly job does with the week's issue once it is built: schedule it for the slot
(and tell the staff it waits for review), send it when the slot has passed, or leave it be.

With ``NEWSLETTER_REVIEW_HOURS`` the weekly run comes that many hours before the slot
(:func:`~newsletter.jobs.schedule.due_slot`): the draft is scheduled for the slot, remembered
as its ``planned_at``, and every editor and operator is mailed a link to its preview desk, once
per issue however often the week runs (:func:`~newsletter.issues.review.claim_review_mail`),
after the commit. Until the slot an editor may hold it (it goes back to draft and stays there:
this job never schedules a held draft again), edit it, approve it, or an operator may move it;
the minute tick sends it at its time. The staff are mailed only after the schedule is
committed, and a mail that fails is reported, not retried: the issue still goes out.

When the pre-flight check holds a due send (``preflight.gate``), :func:`notify_held` mails the
staff what holds it, once per version of the draft.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.content import IssueContent
from newsletter.compose.staffmail import HeldNotice, ReviewNotice, held_message, review_message
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.dispatch import Dispatcher
from newsletter.delivery.fanout import send_issue
from newsletter.issues.content import get_issue, load_content
from newsletter.issues.review import claim_review_mail, staff_addresses
from newsletter.issues.schedule import schedule_send
from newsletter.localtime import local_text
from newsletter.mail.transport import DeliveryError, Envelope, Transport
from newsletter.models import Issue, IssueCheck, IssueStatus
from newsletter.preflight.findings import Report
from newsletter.preflight.gate import may_send
from newsletter.preflight.run import Probes

TransportFactory = Callable[[], Transport]


def plan_issue(
    factory: sessionmaker[Session],
    settings: Settings,
    dispatcher: Dispatcher,
    issue_id: int,
    send_at: datetime,
    now: datetime,
    transport: TransportFactory | None = None,
    probes: Probes | None = None,
) -> str:
    """Schedule, send or leave the week's issue; returns what happened, in one line. Sending
    at once (the slot has passed) asks the pre-flight check first: held, the issue is
    scheduled a minute ahead, and the tick starts it once the check passes."""
    zone = settings.timezone
    with transaction(factory) as session:
        issue = get_issue(session, issue_id, lock=True)
        if issue.planned_at is None and issue.status is IssueStatus.DRAFT:
            session.execute(
                update(Issue)
                .where(Issue.id == issue_id)
                .values(planned_at=send_at)
                .execution_options(synchronize_session=False)
            )
        status, held_by = issue.status, issue.held_by
        if status is IssueStatus.DRAFT and held_by is None and send_at > now:
            schedule_send(session, issue_id, send_at, now)
            status = IssueStatus.SCHEDULED
            outcome = f"issue {issue_id} scheduled for {local_text(send_at, zone)}"
        elif held_by is not None and status is IssueStatus.DRAFT:
            return f"issue {issue_id} held by {held_by}: not scheduled"
        elif status is IssueStatus.DRAFT:
            outcome = ""
        else:  # an operator scheduled, sent or cancelled it: theirs is the last word
            when = f" for {local_text(issue.send_at, zone)}" if issue.send_at else ""
            outcome = f"issue {issue_id} already {status.value}{when}"
    if not outcome:  # the slot has passed: send it now
        gate = may_send(factory, settings, issue_id, now, probes)
        if gate.blocked:
            assert gate.report is not None
            with transaction(factory) as session:
                schedule_send(session, issue_id, now + timedelta(minutes=1), now)
            notify_held(factory, settings, gate.report, now, transport)
            return gate.reason(issue_id)
        sent = send_issue(factory, settings, issue_id, dispatcher, now)
        return f"issue {issue_id} sending to {sent.recipients} recipients"
    if status is IssueStatus.SCHEDULED and settings.review_hours > 0:
        outcome += notify_staff(factory, settings, issue_id, now, transport)
    return outcome


def notify_staff(
    factory: sessionmaker[Session],
    settings: Settings,
    issue_id: int,
    now: datetime,
    transport: TransportFactory | None = None,
) -> str:
    """Mail every editor and operator that the issue waits for review (once per issue);
    returns what to add to the run's outcome."""
    with transaction(factory) as session:
        if not claim_review_mail(session, issue_id, now):
            return ""
        addresses = staff_addresses(session)
        issue = get_issue(session, issue_id)
        content = load_content(session, issue_id, settings.timezone)
        notice = _notice(settings, issue, content)
    if not addresses:
        return "; no editor account to tell (newsletter users add)"
    failed = _mail(
        settings, addresses, lambda to: review_message(settings, to, notice, now), transport
    )
    told = len(addresses) - len(failed)
    note = f"; {told} editor(s) told"
    return note + (f", could not mail {', '.join(failed)}" if failed else "")


def notify_held(
    factory: sessionmaker[Session],
    settings: Settings,
    report: Report,
    now: datetime,
    transport: TransportFactory | None = None,
) -> None:
    """Mail every editor and operator that the pre-flight check holds the issue's scheduled
    send: once per version of the draft (claimed by a conditional UPDATE, so two ticks at once
    mail once), never again while the same draft stays held."""
    issue_id = report.issue_id
    with transaction(factory) as session:
        claimed = session.execute(
            update(IssueCheck)
            .where(
                IssueCheck.issue_id == issue_id,
                IssueCheck.version == report.version,
                or_(
                    IssueCheck.mailed_version.is_(None),
                    IssueCheck.mailed_version != report.version,
                ),
            )
            .values(mailed_version=report.version)
            .execution_options(synchronize_session=False)
        )
        if not getattr(claimed, "rowcount", 0):
            return
        addresses = staff_addresses(session)
        content = load_content(session, issue_id, settings.timezone)
    notice = HeldNotice(
        issue_id,
        content.week_key,
        content.resolved(settings.site_name).subject or "",
        tuple(f"{f.message} (fix: {f.fix})" if f.fix else f.message for f in report.errors),
        f"{settings.base_url.rstrip('/')}/admin/issues/{issue_id}",
    )
    _mail(settings, addresses, lambda to: held_message(settings, to, notice, now), transport)


def _mail(
    settings: Settings,
    addresses: list[str],
    build: Callable[[str], tuple[str, bytes]],
    transport: TransportFactory | None,
) -> list[str]:
    """Send ``build(address)`` to each address; returns those that failed, with why."""
    if not addresses:
        return []
    if transport is None:
        from newsletter.mail import make_transport

        sender = make_transport(settings)
    else:
        sender = transport()
    failed: list[str] = []
    try:
        for address in addresses:
            message_id, message = build(address)
            try:
                sender.send(Envelope(settings.sender_email, address, message_id), message)
            except DeliveryError as exc:
                failed.append(f"{address} ({exc})")
    finally:
        sender.close()
    return failed


def _notice(settings: Settings, issue: Issue, content: IssueContent) -> ReviewNotice:
    resolved = content.resolved(settings.site_name)
    return ReviewNotice(
        issue.id,
        issue.week_key,
        resolved.subject or "",
        local_text(issue.send_at, settings.timezone),
        f"{settings.base_url.rstrip('/')}/admin/issues/{issue.id}",
        len(content.new),
        len(content.trending),
    )
