"""Fault 2: Redis, the broker, killed mid-send and started again empty.

Every queued batch task is lost with it. Promise: the send completes with nobody lost and
nobody doubled. The delivery rows are the record: the running batches finish (their rows are
claimed in the database, not in Redis), the workers reconnect to the new Redis, and an idle
worker that finds due rows of a sending issue on which nothing moved for a lease dispatches
batches for them again (``newsletter.delivery.lease.orphaned``).
"""

from __future__ import annotations

import time

import pytest

from tests.helpers.fault_rig import Rig

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def test_redis_restarted_empty_mid_send_loses_nobody(rig: Rig) -> None:
    rig.start_workers(2)
    issue_id, emails = rig.issue()
    started = rig.send(issue_id)
    rig.wait_for(lambda: rig.smtp.total() >= len(emails) // 4, 60, "a quarter of the send")
    rig.broker.restart()
    restarted = time.monotonic()
    ended = rig.wait_until_sent(issue_id, 120)
    result = rig.outcome(
        "2. Redis restarted, queue lost",
        emails,
        started,
        ended,
        f"restarted at 25%; ended {ended - restarted:.1f} s after",
    )
    assert result.lost == 0
    assert result.duplicates == 0
