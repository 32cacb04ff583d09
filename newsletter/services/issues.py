"""Issue services: build, edit, preview, test copies, send or schedule, steer, watch.

Plain arguments in (ids, addresses, times), plain results out; errors are the domain's, naming
fields (``week``, ``send_at``, ``position``), for the faces to word in their own terms.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsletter.db import transaction
from newsletter.delivery.control import Steered, cancel_issue, pause_issue, resume_issue
from newsletter.delivery.dispatch import BrokerUnavailable, CeleryDispatcher
from newsletter.delivery.fanout import FanoutResult, audience_count, send_issue
from newsletter.delivery.progress import Progress, issue_progress
from newsletter.delivery.retry import Failure, Retried, count_retryable, latest_failures
from newsletter.delivery.retry import retry_failed as requeue_failed
from newsletter.errors import WorkError
from newsletter.issues.build import BuildResult, build_issue
from newsletter.issues.editing import EditResult, Edits, edit_issue
from newsletter.issues.online import online_copy
from newsletter.issues.overview import IssueDetail, IssueRow, ItemRow, issue_detail, issue_rows
from newsletter.issues.preview import preview as render_preview
from newsletter.issues.proofs import CopyOutcome, send_test_copies
from newsletter.issues.review import approve_issue, hold_issue
from newsletter.issues.schedule import schedule_send
from newsletter.issues.schedule import unschedule as unschedule_issue
from newsletter.preflight.findings import Finding, Report
from newsletter.preflight.run import check_issue, last_report
from newsletter.services.context import Context
from newsletter.tokens import BadToken

__all__ = [
    "BuildResult",
    "CopyOutcome",
    "EditResult",
    "Failure",
    "Finding",
    "IssueDetail",
    "IssueRow",
    "ItemRow",
    "Report",
    "Retried",
    "Sent",
]


def build(
    ctx: Context, *, week: str | None = None, now: datetime | None = None, again: bool = False
) -> BuildResult:
    """Build (or return the existing) draft of ``week`` (default: ``now``'s week); ``again``:
    a new draft for a week whose issue was cancelled."""
    with transaction(ctx.factory) as session:
        return build_issue(session, ctx.settings, now=now or ctx.clock(), week=week, again=again)


def list_issues(ctx: Context, *, limit: int = 200) -> list[IssueRow]:
    """The latest issues, newest first, with their delivery and click counts."""
    with ctx.factory() as session:
        return issue_rows(session, ctx.settings, limit=limit)


def show(ctx: Context, issue_id: int) -> IssueDetail:
    """One issue: its items in order, its size against the clip budget, its schedule."""
    with ctx.factory() as session:
        return issue_detail(session, ctx.settings, issue_id)


def approve(ctx: Context, issue_id: int, by: str) -> bool:
    """An editor's go: recorded; a draft with its weekly slot still ahead (a held one) is
    scheduled at it (True)."""
    with transaction(ctx.factory) as session:
        return approve_issue(session, issue_id, by, ctx.clock())


def hold(ctx: Context, issue_id: int, by: str) -> None:
    """An editor's stop: a scheduled issue goes back to draft, and the weekly job leaves it."""
    with transaction(ctx.factory) as session:
        hold_issue(session, issue_id, by, ctx.clock())


def unschedule(ctx: Context, issue_id: int) -> None:
    """A scheduled issue back to draft (its time forgotten)."""
    with transaction(ctx.factory) as session:
        unschedule_issue(session, issue_id, ctx.clock(), "unscheduled")


def failures(ctx: Context, issue_id: int, limit: int = 20) -> list[Failure]:
    """The newest failed and unknown deliveries, with the server's reply."""
    with ctx.factory() as session:
        return latest_failures(session, issue_id, limit)


def retryable_counts(ctx: Context, issue_id: int) -> dict[str, int]:
    """What "retry failed" would queue: {"temporary": n, "unknown": m}."""
    with ctx.factory() as session:
        return count_retryable(session, issue_id)


def retry_failed(
    ctx: Context,
    issue_id: int,
    *,
    temporary: bool = True,
    unknown: bool = True,
    emails: Collection[str] = (),
) -> Retried:
    """Send again the rows that failed temporarily and/or ended ``unknown`` (only those of
    ``emails`` when given); ``.rows`` says how many were queued. :class:`WorkError` when none."""
    with ctx.dispatcher() as dispatcher:
        return requeue_failed(
            ctx.factory,
            ctx.settings,
            issue_id,
            dispatcher,
            ctx.clock(),
            temporary=temporary,
            unknown=unknown,
            emails=emails,
        )


def edit(ctx: Context, issue_id: int, edits: Edits) -> EditResult:
    with transaction(ctx.factory) as session:
        return edit_issue(session, ctx.settings, issue_id, edits, ctx.clock())


def preview(ctx: Context, issue_id: int, *, email: str | None = None, fmt: str = "html") -> bytes:
    with ctx.factory() as session:
        return render_preview(session, ctx.settings, issue_id, email=email, fmt=fmt)


def test_send(ctx: Context, issue_id: int, addresses: list[str]) -> list[CopyOutcome]:
    """The whole issue, marked [TEST], to each address, on a transport of this call's own."""
    transport = ctx.transport()
    try:
        with ctx.factory() as session:
            return send_test_copies(session, ctx.settings, issue_id, addresses, transport)
    finally:
        transport.close()


@dataclass(frozen=True)
class Sent:
    fanout: FanoutResult
    progress: Progress
    queued: bool  # handed to workers (a broker is set), else sent in this process


def send(ctx: Context, issue_id: int) -> Sent:
    """Send a draft now, or continue one that is sending (nothing is created twice). With a
    broker that cannot be reached, nothing changes (:class:`WorkError` naming it)."""
    with ctx.dispatcher() as dispatcher:
        if isinstance(dispatcher, CeleryDispatcher):
            try:
                dispatcher.check()
            except BrokerUnavailable as exc:
                raise WorkError(f"issue {issue_id}: {exc}; nothing was changed") from exc
        result = send_issue(ctx.factory, ctx.settings, issue_id, dispatcher, ctx.clock())
    return Sent(result, status(ctx, issue_id), bool(ctx.settings.broker_url))


def audience(ctx: Context, issue_id: int) -> int:
    """How many subscribers sending the issue now would reach (besides those it reached)."""
    with ctx.factory() as session:
        return audience_count(session, ctx.settings, issue_id)


def schedule(ctx: Context, issue_id: int, at: datetime) -> None:
    """Send a draft at ``at`` (the minute tick starts it); ``send_at`` must be in the future."""
    with transaction(ctx.factory) as session:
        schedule_send(session, issue_id, at, ctx.clock())


def status(ctx: Context, issue_id: int) -> Progress:
    """Counts, rate and ETA, and the rows held by workers that stopped renewing their lease."""
    lease = timedelta(seconds=ctx.settings.delivery_lease)
    with ctx.factory() as session:
        return issue_progress(session, issue_id, lease)


def pause(ctx: Context, issue_id: int, reason: str = "paused by an operator") -> Steered:
    with transaction(ctx.factory) as session:
        return pause_issue(session, issue_id, ctx.clock(), reason)


def resume(ctx: Context, issue_id: int) -> Steered:
    with ctx.dispatcher() as dispatcher:
        return resume_issue(ctx.factory, ctx.settings, issue_id, dispatcher, ctx.clock())


def cancel(ctx: Context, issue_id: int) -> Steered:
    with transaction(ctx.factory) as session:
        return cancel_issue(session, issue_id, ctx.clock())


def view_online(ctx: Context, token: str) -> str:
    """The HTML of the issue a "View online" token names, as that reader got it.
    :class:`BadToken` for a forged one; :class:`NotFound` when the issue is gone."""
    issue, _, subscriber = ctx.signer.verify(token, "view").partition(".")
    if not (issue.isdigit() and subscriber.isdigit()):
        raise BadToken("malformed link token")
    with ctx.factory() as session:
        return online_copy(session, ctx.settings, ctx.signer, int(issue), int(subscriber))


def check(ctx: Context, issue_id: int) -> Report:
    """Run the pre-flight check now (links asked again unless they answered well lately),
    store its report, and return it; errors in it would hold a scheduled send."""
    return check_issue(ctx.factory, ctx.settings, issue_id, ctx.clock(), ctx.probes)


def last_check(ctx: Context, issue_id: int) -> Report | None:
    """The issue's last pre-flight report (by the tick, an editor or the command line)."""
    with ctx.factory() as session:
        return last_report(session, issue_id)
