"""Fault 6: PostgreSQL restarted mid-send (``pg_ctl restart -m fast``, as ``systemctl restart``
does), the workers running on.

Promise: the workers reconnect and the send completes, nobody lost, and no more duplicates
than workers: each may lose the record of the one message it had in flight when its
connection broke (sent, but its outcome not written), which is sent again once its lease
runs out. A batch whose claim or outcome cannot be written stops; its rows wait for their
lease and an idle worker hands them out again (``newsletter.delivery.lease``).
"""

from __future__ import annotations

import time

import pytest

from tests.helpers.fault_rig import Rig

pytestmark = [pytest.mark.faults, pytest.mark.slow]

WORKERS = 2


def test_postgresql_restarted_mid_send_loses_nobody(rig: Rig) -> None:
    rig.start_workers(WORKERS)
    issue_id, emails = rig.issue()
    started = rig.send(issue_id)
    rig.wait_for(lambda: rig.smtp.total() >= len(emails) // 4, 60, "a quarter of the send")
    rig.postgres.stop()
    down = time.monotonic()
    rig.postgres.start()
    up = time.monotonic()
    ended = rig.wait_until_sent(issue_id, 120)
    result = rig.outcome(
        "6. PostgreSQL restarted",
        emails,
        started,
        ended,
        f"down {up - down:.1f} s; ended {ended - up:.1f} s after it came back",
    )
    assert result.lost == 0
    assert result.duplicates <= WORKERS
