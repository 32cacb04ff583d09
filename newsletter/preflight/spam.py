"""SpamAssassin's opinion of a message, with local tests only (``spamassassin -t -L``).

Above :data:`WARN` a warning, above :data:`ERROR` (SpamAssassin's own "spam" line) an error;
either way the rules it hit are listed with their points. Without the ``spamassassin``
command (Debian package ``spamassassin``) the check is a note saying it was skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from newsletter.preflight.findings import Finding, Severity

WARN = 2.0
ERROR = 5.0
TIMEOUT = 120.0  # seconds; it takes one or two on a warm machine
_STATUS = re.compile(rb"^X-Spam-Status:(.*?)\r?\n(?![ \t])", re.MULTILINE | re.DOTALL)
_SCORE = re.compile(rb"score=(-?\d+(?:\.\d+)?)")
_RULE = re.compile(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s+(.*)$")


@dataclass(frozen=True)
class Verdict:
    score: float
    rules: tuple[str, ...]  # "0.7 HTML_FONT_LOW_CONTRAST  HTML font color similar to ..."


def parse(output: bytes) -> Verdict | None:
    """The score and rules of ``spamassassin -t`` output (the message with its report)."""
    status = _STATUS.search(output)
    score = _SCORE.search(status.group(1)) if status else None
    if score is None:
        return None
    rules: list[str] = []
    text = output.decode("utf-8", "replace")
    _, found, report = text.partition("Content analysis details:")
    table = report.split("\n----", 1)[1].splitlines()[1:] if found and "\n----" in report else []
    for line in table:
        match = _RULE.match(line)
        if match:
            rules.append(f"{match.group(1)} {match.group(2)}  {match.group(3).strip()}")
        elif line.startswith(" " * 20) and line.strip() and rules:
            rules[-1] += " " + line.strip()  # a description continued on the next line
        else:
            break  # the end of the table
    return Verdict(float(score.group(1)), tuple(rules))


def spam_findings(message: bytes, command: str | None = None, *, run: bool = True) -> list[Finding]:
    if not run:
        return [Finding("spam", "note", "SpamAssassin not run: turned off for this check")]
    found = command or shutil.which("spamassassin")
    if found is None:
        return [
            Finding(
                "spam",
                "note",
                "SpamAssassin not run: the spamassassin command is not installed",
                "install it (Debian: apt-get install spamassassin) to score each issue",
            )
        ]
    try:
        done = subprocess.run(
            [found, "-t", "-L"], input=message, capture_output=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [Finding("spam", "warning", f"SpamAssassin could not run: {exc}")]
    verdict = parse(done.stdout)
    if verdict is None:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no score"]
        return [Finding("spam", "warning", f"SpamAssassin gave no score: {reason[0]}")]
    severity: Severity = (
        "error" if verdict.score > ERROR else "warning" if verdict.score > WARN else "note"
    )
    hit = [r for r in verdict.rules if not r.startswith(("0.0 ", "-0.0 "))]
    return [
        Finding(
            "spam",
            severity,
            f"SpamAssassin scores {verdict.score:g} with local tests (warning above {WARN:g}, "
            f"error above {ERROR:g})",
            "see the rules below: each names what it disliked" if hit else "",
            verdict.rules,
        )
    ]
