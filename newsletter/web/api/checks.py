"""The API's pre-flight routes: ``GET /api/issues/{id}/check`` (the last report, by anyone:
the tick, an editor, the command line) and ``POST /api/issues/{id}/check`` (run it now).
Editors and operators alike; the same service as ``newsletter issue check``."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from newsletter.errors import NotFound
from newsletter.services import issues
from newsletter.web import services
from newsletter.web.api.access import reply, responses, route
from newsletter.web.api.issues import ISSUE


class FindingSchema(Schema):
    check = fields.String(required=True, metadata={"example": "links"})
    severity = fields.String(required=True, validate=validate.OneOf(("error", "warning", "note")))
    message = fields.String(required=True)
    fix = fields.String(required=True, metadata={"description": "what to do; may be empty"})
    details = fields.List(fields.String(), required=True)


class CheckSchema(Schema):
    issue_id = fields.Integer(required=True)
    version = fields.Integer(
        required=True, metadata={"description": "the draft version that was checked"}
    )
    checked_at = fields.DateTime(required=True)
    passed = fields.Boolean(
        required=True, metadata={"description": "no error: a scheduled send may start"}
    )
    errors = fields.Integer(required=True)
    warnings = fields.Integer(required=True)
    findings = fields.List(fields.Nested(FindingSchema), required=True)


def present(report: issues.Report) -> dict[str, Any]:
    return {
        "issue_id": report.issue_id,
        "version": report.version,
        "checked_at": report.checked_at,
        "passed": report.passed,
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "findings": [vars(f) | {"details": list(f.details)} for f in report.findings],
    }


@route(f"{ISSUE}/check", "GET")
@reply(200, CheckSchema)
@responses(404)
def last_check(issue_id: int) -> dict[str, Any]:
    """The issue's last pre-flight report; 404 when it was never checked."""
    context = services()
    issues.show(context, issue_id)  # 404 for an unknown issue
    report = issues.last_check(context, issue_id)
    if report is None:
        raise NotFound(f"issue {issue_id}: not checked yet (POST to this URL runs the check)")
    return present(report)


@route(f"{ISSUE}/check", "POST")
@reply(200, CheckSchema)
@responses(404)
def run_check(issue_id: int) -> dict[str, Any]:
    """Run the pre-flight check now (a few seconds: every link is asked); its errors hold a
    scheduled send of the issue."""
    return present(issues.check(services(), issue_id))
