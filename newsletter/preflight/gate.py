"""May a scheduled send start? What the tick and the weekly job ask the pre-flight check.

With ``NEWSLETTER_PREFLIGHT=block`` (the default) a send whose check finds an error does not
start: the issue stays scheduled, and the next tick asks again, so the send starts by itself
once an editor fixes the draft (an edit changes its version, which is checked at once) or the
broken server answers again (within :data:`~newsletter.preflight.run.RECHECK`). ``warn`` runs
and stores the check and sends anyway; ``off`` skips it. A report of the same version younger
than ``RECHECK`` is reused, so a held issue costs one check per few minutes, not one a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.issues.content import get_issue
from newsletter.preflight.findings import Report
from newsletter.preflight.run import RECHECK, Probes, check_issue, last_report


@dataclass(frozen=True)
class Gate:
    blocked: bool
    report: Report | None  # None: not checked (NEWSLETTER_PREFLIGHT=off)

    def reason(self, issue_id: int) -> str:
        assert self.report is not None
        return (
            f"issue {issue_id} held by the pre-flight check ({self.report.summary()}): see "
            f"`newsletter issue check {issue_id}`"
        )


def may_send(
    factory: sessionmaker[Session],
    settings: Settings,
    issue_id: int,
    now: datetime,
    probes: Probes | None = None,
) -> Gate:
    if settings.preflight == "off":
        return Gate(False, None)
    with factory() as session:
        version = get_issue(session, issue_id).version
        report = last_report(session, issue_id)
    if report is None or report.version != version or now - report.checked_at >= RECHECK:
        report = check_issue(factory, settings, issue_id, now, probes, fresh=False)
    return Gate(settings.preflight == "block" and not report.passed, report)
