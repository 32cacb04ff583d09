"""The pre-flight panel of the desk: ``POST /admin/issues/<id>/check`` runs the check (the
same service as ``newsletter issue check``) and returns to the desk's panel, which shows the
last report: errors and warnings with their fixes, what passed folded away."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from newsletter.services import issues
from newsletter.web import services
from newsletter.web.admin import admin
from newsletter.web.admin.auth import login_required
from newsletter.web.admin.desk import act


@admin.post("/issues/<int:issue_id>/check")
@login_required
def desk_check(issue_id: int) -> ResponseReturnValue:
    def work() -> list[tuple[str, str]]:
        report = issues.check(services(), issue_id)
        if report.passed:
            return [("check-ok", f"Pre-flight check passed: {report.summary()}.")]
        return [("check-error", f"Pre-flight check found {report.summary()}.")]

    return act(issue_id, "check", work)
