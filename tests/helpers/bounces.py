"""Bounce and complaint samples (``tests/fixtures/bounces/``) and the database they refer to.

The samples were written for this project in the styles of real MTAs and feedback loops;
``expected.json`` says what each one must come to. They name issue 7 and subscribers 42-53.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db import transaction
from newsletter.feedback.bounces import BouncePolicy
from newsletter.mail.verp import MessageTags, ReturnPath
from newsletter.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.helpers.env import FIXTURES, NOW

SAMPLES = FIXTURES / "bounces"
EXPECTED: dict[str, dict[str, object]] = json.loads((SAMPLES / "expected.json").read_text())
EXPECTED_BY_ID = {
    e["subscriber_id"]: e["recipient"] for e in EXPECTED.values() if e["subscriber_id"]
}
PATH = ReturnPath("bounces", "news.example.com", b"test-secret")
TAGS = MessageTags(b"test-secret")
POLICY = BouncePolicy(
    domain="news.example.com",
    return_path=PATH,
    soft_limit=3,
    soft_window=timedelta(days=30),
    tags=TAGS,
)
_VERP = re.compile(rb"bounces\+(\d+)-(\d+)@news\.example\.com")
_TAG = re.compile(rb"^(X-Newsletter-Id: )(\d+)-(\d+)$", re.MULTILINE)


def raw_sample(name: str) -> bytes:
    """The sample as written: its VERP addresses and X-Newsletter-Id tags unsigned."""
    return (SAMPLES / name).read_bytes()


def sample(name: str) -> bytes:
    """The sample as it comes back from a real send: VERP addresses and tags signed."""
    raw = raw_sample(name)
    raw = _VERP.sub(lambda m: PATH.for_delivery(int(m[1]), int(m[2])).encode(), raw)
    return _TAG.sub(lambda m: m[1] + TAGS.for_delivery(int(m[2]), int(m[3])).encode(), raw)


def seed(factory: sessionmaker[Session]) -> None:
    """Issue 7, sent to subscribers 42-53 of the samples (the ids the samples carry)."""
    with transaction(factory) as session:
        session.add(
            Issue(
                id=7,
                week_key="2026-W48",
                status=IssueStatus.SENT,
                window_start=NOW - timedelta(days=7),
                cutoff=NOW,
            )
        )
        for sid in range(42, 54):
            email = str(EXPECTED_BY_ID.get(sid) or f"reader{sid}@example.org")
            session.add(
                Subscriber(
                    id=sid,
                    email=email,
                    email_key=email.lower(),
                    status=SubscriberStatus.CONFIRMED,
                    category_mask=0,
                    created_at=NOW,
                )
            )
        session.flush()
        for sid in range(42, 54):
            session.add(
                Delivery(
                    issue_id=7,
                    subscriber_id=sid,
                    variant_mask=0,
                    state=DeliveryState.SENT,
                    message_id=f"<nl.2026-W48.7.{sid}@news.example.com>",
                    sent_at=NOW,
                )
            )


def standing(factory: sessionmaker[Session], sid: int) -> tuple[SubscriberStatus, str | None]:
    """A subscriber's status and the reason their address is suppressed, if it is."""
    with factory() as session:
        row = session.get(Subscriber, sid)
        assert row is not None
        reason = session.scalar(
            select(Suppression.reason).where(Suppression.email_key == row.email_key)
        )
        return row.status, reason
