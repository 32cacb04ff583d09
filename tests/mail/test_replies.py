"""The one classifier of refusals: SMTP replies met while sending and statuses in bounce reports
come to the same verdict (RFC 5321 reply codes, RFC 3463 enhanced status codes)."""

from __future__ import annotations

import pytest

from newsletter.feedback.reports import ReportKind, report_kind
from newsletter.mail.replies import Stage, Verdict, classify, status_in

ADDRESS, POLICY = Verdict.ADDRESS, Verdict.POLICY
CONTENT, TEMPORARY = Verdict.CONTENT, Verdict.TEMPORARY


@pytest.mark.parametrize(
    ("reply", "stage", "verdict"),
    [
        ("451 4.3.0 try again later", Stage.RCPT, TEMPORARY),
        ("421 4.7.0 too many connections", Stage.MAIL, TEMPORARY),
        ("550 5.1.1 no such user", Stage.RCPT, ADDRESS),
        ("553 5.1.3 bad address syntax", Stage.RCPT, ADDRESS),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound", Stage.RCPT, ADDRESS),
        ("550 5.2.1 mailbox disabled", Stage.RCPT, ADDRESS),
        # a policy block says nothing about whether the address works
        ("550 5.7.1 message refused by policy", Stage.RCPT, POLICY),
        ("554 5.7.1 Service unavailable; client host blocked", Stage.DATA, POLICY),
        ("550 5.7.26 unauthenticated mail is prohibited (DMARC)", Stage.DATA, POLICY),
        # RFC 5321 4.5.3.1.10: a 552 to RCPT TO is to be read as a 452 (mailbox full)
        ("552 5.2.2 mailbox full", Stage.RCPT, TEMPORARY),
        ("552 5.3.4 message too big for system", Stage.DATA, CONTENT),
        ("552 5.2.3 message length exceeds administrative limit", Stage.DATA, CONTENT),
        ("500 5.3.0 Error: command failed", Stage.RCPT, CONTENT),
        ("503 5.5.1 Error: need RCPT command", Stage.DATA, CONTENT),
        # bare codes: the words, then the place
        ("550 Requested action not taken: mailbox unavailable", Stage.RCPT, ADDRESS),
        ("550 sorry, no mailbox here by that name", Stage.RCPT, ADDRESS),
        ("550 rejected", Stage.RCPT, ADDRESS),
        ("554 transaction failed", Stage.RCPT, POLICY),
        ("550 This violates SMTP", Stage.DATA, CONTENT),
        # words condemn the address only where a refusal is about it
        ("554 reverse DNS not found", Stage.RCPT, POLICY),
        ("554 sender domain does not exist", Stage.DATA, CONTENT),
        ("450 mailbox unavailable", Stage.RCPT, TEMPORARY),
        ("550 message looks like spam", Stage.DATA, POLICY),
        # at MAIL FROM the refusal is about our return path, never the recipient's address
        ("553 5.1.8 bad sender address domain", Stage.MAIL, POLICY),
        ("550 5.1.1 sender unknown", Stage.MAIL, POLICY),
    ],
)
def test_smtp_replies(reply: str, stage: Stage, verdict: Verdict) -> None:
    code, _, text = reply.partition(" ")
    assert classify(code=int(code), text=reply, stage=stage) is verdict, text


@pytest.mark.parametrize(
    ("status", "diagnostic", "verdict"),
    [
        ("5.1.1", None, ADDRESS),
        ("5.0.0", None, ADDRESS),  # an unspecific failure in a report counts against the address
        ("5.0.0", "550 mailbox is full, over quota", TEMPORARY),
        ("5.0.0", "550 user unknown", ADDRESS),
        ("5.0.0", "554 rejected as spam", POLICY),
        ("5.2.2", None, TEMPORARY),
        ("5.7.1", None, POLICY),
        ("5.3.4", None, CONTENT),
        ("5.4.7", None, TEMPORARY),  # the remote MTA gave up after its own retries
        ("4.4.7", None, TEMPORARY),
        (None, None, TEMPORARY),
    ],
)
def test_report_statuses(status: str | None, diagnostic: str | None, verdict: Verdict) -> None:
    assert classify(status=status, text=diagnostic or "") is verdict


@pytest.mark.parametrize(
    "reply",
    [
        "550 5.1.1 no such user",
        "550 5.7.1 message refused by policy",
        "552 5.2.2 mailbox full",
        "552 5.3.4 message too big",
        "451 4.3.0 try again later",
    ],
)
def test_the_transport_and_bounce_processing_agree(reply: str) -> None:
    """What a refusal at RCPT TO does to an address is what the same refusal does when it
    comes back later in a bounce report: hard exactly when the address does not work."""
    at_rcpt = classify(code=int(reply[:3]), text=reply, stage=Stage.RCPT)
    in_report = report_kind(status_in(reply), "failed", reply)
    assert (at_rcpt is Verdict.ADDRESS) == (in_report is ReportKind.HARD)


def test_status_in_prefers_the_code_after_the_reply() -> None:
    assert status_in("552-5.2.2 The email account is over quota (see 5.0.0)") == "5.2.2"
    assert status_in("connect to 10.4.20.1: refused, 550 no") == "5.0.0"
    assert status_in("all fine") is None
