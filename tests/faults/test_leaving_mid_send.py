"""Fault 8: a reader unsubscribes (the one-click POST of their List-Unsubscribe header, to the
real web app) and another's hard bounce arrives (an RFC 3464 report in the bounce mailbox,
applied by ``newsletter bounces process``), both while the issue is going out.

Promise: no further mail to either. Their rows are skipped or failed, not sent: a batch checks
every reader when it claims them and, while it sends, every second again
(``newsletter.subscribers.audience.gone``).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from newsletter.compose.links import recipient_values
from newsletter.mail.verp import ReturnPath
from newsletter.models import Delivery, DeliveryState, Subscriber, SubscriberStatus
from newsletter.tokens import Signer, load_secret
from newsletter.web import create_app
from tests.helpers.fault_rig import Rig

pytestmark = [pytest.mark.faults, pytest.mark.slow]

REPORT = """\
From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {return_path}
Subject: Delivery failed: {email}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="report-boundary"

--report-boundary
Content-Type: text/plain; charset=us-ascii

Your message to {email} could not be delivered: the mailbox does not exist.

--report-boundary
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {email}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{email}>: no such mailbox

--report-boundary--
"""


def test_an_unsubscribe_and_a_hard_bounce_mid_send_stop_the_mail_to_them(rig: Rig) -> None:
    rig.settings = rig.settings.with_overrides(bounce_address="bounces@news.example.com")
    rig.start_workers(2)
    issue_id, emails = rig.issue()
    leaving, bouncing = emails[-100], emails[-99]  # far ahead of the send when they act
    with rig.factory() as session:
        ids: dict[str, int] = dict(session.execute(select(Subscriber.email, Subscriber.id)).all())
    started = rig.send(issue_id)
    rig.wait_for(lambda: rig.smtp.total() >= len(emails) // 5, 60, "a fifth of the send")

    # The reader's mail client POSTs the one-click unsubscribe (RFC 8058) to the web app.
    link = recipient_values(
        Signer(load_secret(rig.settings)),
        rig.settings.base_url,
        issue_id=issue_id,
        subscriber_id=ids[leaving],
        email=leaving,
        name=None,
        category_mask=0,
    ).unsubscribe_url
    app = create_app(rig.settings, factory=rig.factory)  # the rig disposes of its engine
    answer = app.test_client().post(
        link.removeprefix(rig.settings.base_url), data={"List-Unsubscribe": "One-Click"}
    )
    assert answer.status_code == 200, answer.data
    # The receiving server's report reaches the bounce mailbox; the operator's timer applies it.
    return_path = ReturnPath.from_settings(rig.settings)
    assert return_path is not None
    maildir = rig.folder / "bounces"
    for part in ("cur", "new", "tmp"):
        (maildir / part).mkdir(parents=True)
    report = REPORT.format(
        return_path=return_path.for_delivery(issue_id, ids[bouncing]), email=bouncing
    )
    (maildir / "new" / "1.report").write_text(report.replace("\n", "\r\n"))
    rig.newsletter("bounces", "process", str(maildir))
    acted = time.monotonic()
    sent_by_then = rig.smtp.total()

    ended = rig.wait_until_sent(issue_id, 120)
    wanted = [email for email in emails if email not in (leaving, bouncing)]
    result = rig.outcome(
        "8. unsubscribe and hard bounce mid-send",
        wanted,
        started,
        ended,
        f"both acted on at {sent_by_then / len(emails):.0%} of the send, "
        f"{ended - acted:.1f} s before its end; mail to them afterwards: "
        f"{rig.smtp.received[leaving] + rig.smtp.received[bouncing]}",
    )
    assert result.lost == 0 and result.duplicates == 0
    assert rig.smtp.received[leaving] == 0 and rig.smtp.received[bouncing] == 0
    with rig.factory() as session:
        states = dict(
            session.execute(
                select(Delivery.subscriber_id, Delivery.state).where(
                    Delivery.subscriber_id.in_([ids[leaving], ids[bouncing]])
                )
            ).all()
        )
        people = dict(
            session.execute(
                select(Subscriber.email, Subscriber.status).where(
                    Subscriber.email.in_([leaving, bouncing])
                )
            ).all()
        )
    assert states[ids[leaving]] is DeliveryState.SKIPPED
    assert states[ids[bouncing]] in (DeliveryState.SKIPPED, DeliveryState.FAILED)
    assert people == {
        leaving: SubscriberStatus.UNSUBSCRIBED,
        bouncing: SubscriberStatus.BOUNCED,
    }
