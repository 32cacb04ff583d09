"""Fault 1: workers killed with SIGKILL at three random points of a send.

Promise: every recipient gets the issue, with at most one duplicate per kill (the message in
flight when its worker died), and the send ends within 60 s of the last kill: the dead
worker's rows come back when their lease runs out (15 s) and an idle worker's timer, every
5 s, hands them out again. A killed worker is started again, as systemd would.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.helpers.fault_rig import Rig

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def test_three_sigkills_lose_nobody_and_double_at_most_one_each(rig: Rig) -> None:
    rig.start_workers(3)
    issue_id, emails = rig.issue()
    chance = random.Random()
    # Three points of the send, as shares of the recipients received by then.
    points = sorted(chance.uniform(0.1, 0.8) for _ in range(3))
    started = rig.send(issue_id)
    last_kill = started
    for point in points:
        share = point * len(emails)
        rig.wait_for(lambda: rig.smtp.total() >= share, 60, f"{point:.0%} of the send")  # noqa: B023
        victim = chance.choice(sorted(rig.workers))
        rig.kill(victim)
        last_kill = time.monotonic()
        rig.start_worker(victim)
    ended = rig.wait_until_sent(issue_id, 90)
    result = rig.outcome(
        "1. SIGKILL x3",
        emails,
        started,
        ended,
        f"kills at {', '.join(f'{p:.0%}' for p in points)}; "
        f"ended {ended - last_kill:.1f} s after the last",
    )
    assert result.lost == 0
    assert result.duplicates <= 3
    assert ended - last_kill <= 60
