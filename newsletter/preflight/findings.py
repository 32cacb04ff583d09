"""Findings: what a check saw, how bad it is, and how to fix it. Plain data, stored as JSON.

An ``error`` blocks a scheduled send (``NEWSLETTER_PREFLIGHT=block``); a ``warning`` is shown
and sends anyway; a ``note`` says what was checked or skipped and why.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Final, Literal

Severity = Literal["error", "warning", "note"]
ORDER: Final[dict[str, int]] = {"error": 0, "warning": 1, "note": 2}


@dataclass(frozen=True)
class Finding:
    check: str  # which check: size, lines, alt, https, links, spam, dkim, spf, dmarc, unsubscribe
    severity: Severity
    message: str  # what is wrong (or what was checked), naming the thing
    fix: str = ""  # what to do about it
    details: tuple[str, ...] = ()  # e.g. the rules SpamAssassin hit, the redirects followed

    def line(self) -> str:
        """One line: ``error  links  https://x/y answered 404 Not Found``."""
        return f"{self.severity:<7} {self.check:<11} {self.message}"


@dataclass(frozen=True)
class Report:
    """Every finding of one check of one issue (errors first)."""

    issue_id: int
    version: int
    checked_at: datetime
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        errors, warnings = len(self.errors), len(self.warnings)
        return (
            f"{errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}"
        )


def ordered(findings: list[Finding]) -> tuple[Finding, ...]:
    """Errors, then warnings, then notes; otherwise in the order the checks ran."""
    return tuple(sorted(findings, key=lambda f: ORDER[f.severity]))


def dumps(findings: tuple[Finding, ...]) -> str:
    return json.dumps([asdict(f) for f in findings], ensure_ascii=False)


def loads(text: str) -> tuple[Finding, ...]:
    return tuple(
        Finding(
            check=str(item["check"]),
            severity=item["severity"],
            message=str(item["message"]),
            fix=str(item.get("fix", "")),
            details=tuple(str(d) for d in item.get("details", ())),
        )
        for item in json.loads(text)
    )
