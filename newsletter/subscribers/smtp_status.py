"""SMTP status codes (RFC 3463 enhanced codes, RFC 5321 replies) and what they say about an
address: pure functions over text, used by :mod:`newsletter.subscribers.reports`."""

from __future__ import annotations

import enum
import re


class ReportKind(enum.StrEnum):
    HARD = "hard"  # the address does not work: stop mailing it
    SOFT = "soft"  # it failed this time (mailbox full, policy, retries ran out)
    DELAYED = "delayed"  # a warning: the MTA is still trying
    COMPLAINT = "complaint"  # the recipient reported the message as spam


# RFC 3463 codes, not parts of a dotted IP address ("10.4.20.1 does not like...")
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# "550 5.1.1" / "552-5.2.2": an enhanced code right after the SMTP reply, the surest place
_REPLY_STATUS = re.compile(r"(?<![\d.])([245])\d\d[ -]+([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_SMTP_CODE = re.compile(r"(?<![\d.])([45])\d\d(?![\d.])")
_HARD_WORDS = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|doesn't exist"
    r"|invalid (recipient|mailbox|address)|recipient (address )?rejected|not found"
    r"|no mailbox|mailbox unavailable|address rejected|unrouteable|undeliverable address",
    re.IGNORECASE,
)
_SOFT_WORDS = re.compile(
    r"quota|mailbox (is )?full|insufficient|spam|blocked|block ?list|blacklist|policy"
    r"|reputation|rate limit|too many|try again|temporar|greylist|content rejected",
    re.IGNORECASE,
)


def classify(
    status: str | None, action: str = "failed", diagnostic: str | None = None
) -> ReportKind:
    """Hard or soft, from an RFC 3463 code. Only a class-5 addressing or mailbox failure is
    hard; a full mailbox (5.2.2), an over-size message (5.2.3, 5.3.4) and policy rejections
    (5.7.x: spam filters, DMARC) say nothing about whether the address works, so they are
    soft, and only their repetition (the soft-bounce threshold) stops the mail. An
    unspecific 5.0.0 (or a bare 5xx reply) is read from the server's words: "user unknown"
    is hard, "over quota" or "spam" soft; anything else stays hard."""
    if action == "delayed":
        return ReportKind.DELAYED
    if status is None or not status.startswith("5."):
        return ReportKind.SOFT
    if status in ("5.2.2", "5.2.3", "5.3.4") or status.startswith("5.7."):
        return ReportKind.SOFT
    if status == "5.0.0" and diagnostic:
        if _HARD_WORDS.search(diagnostic):
            return ReportKind.HARD
        if _SOFT_WORDS.search(diagnostic):
            return ReportKind.SOFT
    return ReportKind.HARD


def status_in(text: str) -> str | None:
    """The most specific RFC 3463 code in ``text``: one right after an SMTP reply code first,
    then any that is not x.0.0, then x.0.0, then a bare 4xx/5xx reply as x.0.0."""
    found = [m.group(2) for m in _REPLY_STATUS.finditer(text)]
    found += [m.group(0) for m in _STATUS.finditer(text)]
    found = [code for code in found if not code.startswith("2.")]
    specific = [code for code in found if not code.endswith(".0.0")]
    if specific or found:
        return (specific or found)[0]
    code = _SMTP_CODE.search(text)
    return f"{code.group(1)}.0.0" if code else None
