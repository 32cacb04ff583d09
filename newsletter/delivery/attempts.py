"""A reader deferred on their own (a 4xx at RCPT TO): tried again later, a few times.

Each claim counts an attempt; a deferral queues the row again after :func:`backoff` (5 min,
10, 20... the spacing greylisting expects), and after :data:`MAX_ATTEMPTS` the row fails with
``gave up after N``, which "retry failed" may send again (:mod:`newsletter.delivery.retry`).
A server failing everyone is not this: see :mod:`newsletter.delivery.outage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from newsletter.delivery.claim import ClaimedRow
from newsletter.delivery.outcomes import OutcomeLog
from newsletter.models import DeliveryState, utcnow

MAX_ATTEMPTS = 5


def backoff(attempts: int) -> timedelta:
    """5 min, 10, 20, 40... capped at 6 h: enough for greylisting and short outages."""
    return min(timedelta(minutes=5) * (1 << min(max(attempts - 1, 0), 16)), timedelta(hours=6))


@dataclass
class BatchResult:
    """What one batch did, row by row (the task's return value, for the worker's log)."""

    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    handed_back: int = 0  # unsent rows returned to the queue when asked to stop
    errors: list[str] = field(default_factory=list)


def retry_or_fail(row: ClaimedRow, log: OutcomeLog, reason: str, result: BatchResult) -> None:
    """Stage the row's deferral: queued again after its backoff, or failed for good once it
    has had :data:`MAX_ATTEMPTS`."""
    result.errors.append(f"{row.email}: {reason}")
    now = utcnow()
    if row.attempts >= MAX_ATTEMPTS:
        failed = f"gave up after {row.attempts}: {reason}"
        log.stage(row.delivery_id, DeliveryState.FAILED, failed, now)
        result.failed += 1
    else:
        retry_at = now + backoff(row.attempts)
        log.stage(row.delivery_id, DeliveryState.QUEUED, reason, now, next_at=retry_at)
        result.retry += 1
