"""What a refusal says: the one classifier of SMTP replies and delivery status codes.

Used by the SMTP transport (a reply to MAIL FROM, RCPT TO or the end of DATA) and by bounce
processing (the status and diagnostic of a report), so both read a refusal the same way. Pure.

A verdict is one of four (:class:`Verdict`). The sources, most trusted first:

1. The class of the reply code (RFC 5321 4.2.1) or of the enhanced status (RFC 3463 2): 4 is
   transient, 5 permanent.
2. The subject of a specific enhanced status (RFC 3463 3), ``5.<subject>.<detail>``:

   ====================  ===================================================================
   X.1.x addressing      ``address`` (5.1.7 and 5.1.8 are the *sender's* address: ``policy``)
   X.2.x mailbox         ``address``; X.2.2 mailbox full ``temporary`` (RFC 3463 calls it
                         "persistent transient"); X.2.3 message too long ``content``
   X.3.x mail system     ``content`` (a full or misconfigured system says nothing of the
                         address; X.3.4 message too big)
   X.4.x routing         ``address`` (5.4.4 unroutable domain); X.4.7 expired ``temporary``
   X.5.x protocol        ``content``
   X.6.x media           ``content``
   X.7.x security        ``policy`` (spam filters, DMARC, block lists)
   ====================  ===================================================================

3. For an unspecific status (X.0.0) or none, the server's words ("user unknown", "spam",
   "over quota", "too large"); words condemn the address only in a report or in a
   550/551/553 to RCPT TO, the replies RFC 5321 gives for a mailbox that does not work.
4. Then where the refusal came: at RCPT TO, a bare 550/551/553 is about the address (RFC 5321
   4.2.2), a 552 is to be read as 452 (RFC 5321 4.5.3.1.10); 500-504 are protocol errors;
   anything refused at MAIL FROM is about our sender, never the recipient's address; in a
   bounce report an unspecific permanent failure counts against the address.

A policy refusal never suppresses an address by itself: it is recorded as a soft failure,
and only its repetition across issues does (``newsletter.subscribers.failures``).
"""

from __future__ import annotations

import enum
import re


class Verdict(enum.StrEnum):
    """What a refusal means for the message and its recipient."""

    TEMPORARY = "temporary"  # try again later
    ADDRESS = "permanent-address"  # the address does not work: a hard bounce
    POLICY = "permanent-policy"  # the receiver's policy refused it: says nothing of the address
    CONTENT = "permanent-content"  # this message (size, format, protocol) was refused

    @property
    def permanent(self) -> bool:
        return self is not Verdict.TEMPORARY


class Stage(enum.StrEnum):
    """Where the refusal was met."""

    MAIL = "mail"  # the reply to MAIL FROM: about our return path
    RCPT = "rcpt"  # the reply to RCPT TO: about the recipient
    DATA = "data"  # the reply to DATA or its final dot: about the message
    REPORT = "report"  # a bounce report after the fact (RFC 3464)


# RFC 3463 codes, not parts of a dotted IP address ("10.4.20.1 does not like...")
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# "550 5.1.1" / "552-5.2.2": an enhanced code right after the SMTP reply, the surest place
_REPLY_STATUS = re.compile(r"(?<![\d.])([245])\d\d[ -]+([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_SMTP_CODE = re.compile(r"(?<![\d.])([45])\d\d(?![\d.])")
_ADDRESS_WORDS = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|doesn't exist"
    r"|invalid (recipient|mailbox|address)|recipient (address )?rejected|not found"
    r"|no mailbox|mailbox unavailable|address rejected|unrouteable|undeliverable address",
    re.IGNORECASE,
)
_POLICY_WORDS = re.compile(
    r"spam|blocked|block ?list|blacklist|policy|reputation|dmarc|spf|dkim", re.IGNORECASE
)
_TEMPORARY_WORDS = re.compile(
    r"quota|mailbox (is )?full|insufficient|rate limit|too many|try again|temporar|greylist",
    re.IGNORECASE,
)
_CONTENT_WORDS = re.compile(r"content rejected|too (large|big|long)|size", re.IGNORECASE)
_SUBJECTS: dict[str, Verdict] = {
    "1": Verdict.ADDRESS,
    "2": Verdict.ADDRESS,
    "3": Verdict.CONTENT,
    "4": Verdict.ADDRESS,
    "5": Verdict.CONTENT,
    "6": Verdict.CONTENT,
    "7": Verdict.POLICY,
}
_DETAILS: dict[str, Verdict] = {
    "1.7": Verdict.POLICY,  # bad sender's mailbox address syntax
    "1.8": Verdict.POLICY,  # bad sender's system address
    "2.2": Verdict.TEMPORARY,  # mailbox full
    "2.3": Verdict.CONTENT,  # message length exceeds administrative limit
    "4.7": Verdict.TEMPORARY,  # delivery time expired
}


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


def _by_words(text: str, *, address: bool) -> Verdict | None:
    """The server's words; they may condemn the address only where a refusal is about it
    (``address``): "554 reverse DNS not found" at RCPT TO is about us, not the recipient."""
    for pattern, verdict in (
        (_ADDRESS_WORDS, Verdict.ADDRESS),
        (_TEMPORARY_WORDS, Verdict.TEMPORARY),
        (_POLICY_WORDS, Verdict.POLICY),
        (_CONTENT_WORDS, Verdict.CONTENT),
    ):
        if pattern.search(text) and (address or verdict is not Verdict.ADDRESS):
            return verdict
    return None


def _by_place(code: int | None, stage: Stage) -> Verdict:
    if stage is Stage.REPORT:
        return Verdict.ADDRESS
    if code is not None and 500 <= code <= 504:
        return Verdict.CONTENT  # syntax error, not implemented, bad sequence (RFC 5321 4.2.2)
    if stage is Stage.RCPT:
        if code in (550, 551, 553):
            return Verdict.ADDRESS
        if code == 552:
            return Verdict.TEMPORARY
        return Verdict.POLICY
    return Verdict.POLICY if stage is Stage.MAIL else Verdict.CONTENT


def classify(
    *,
    code: int | None = None,
    status: str | None = None,
    text: str = "",
    stage: Stage = Stage.REPORT,
) -> Verdict:
    """The verdict on one refusal: an SMTP reply ``code`` and its ``text``, or a report's
    ``status`` and diagnostic ``text``. ``status`` defaults to the one found in ``text``."""
    status = status or status_in(text)
    permanent_class = str(code)[0] == "5" if code is not None else bool(status and status[0] == "5")
    if not permanent_class:
        return Verdict.TEMPORARY
    verdict: Verdict | None = None
    if status is not None and not status.endswith(".0.0"):
        _, subject, detail = status.split(".")
        verdict = _DETAILS.get(f"{subject}.{detail}") or _SUBJECTS.get(subject)
    about_address = stage is Stage.REPORT or (stage is Stage.RCPT and code in (550, 551, 553))
    verdict = verdict or _by_words(text, address=about_address) or _by_place(code, stage)
    if stage is Stage.MAIL and verdict is Verdict.ADDRESS:
        return Verdict.POLICY  # the refusal of our return path: never the recipient's fault
    return verdict
