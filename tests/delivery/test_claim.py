"""Which rows a claim takes and in which order: rows that waited, fresh rows from just past the
last one sent, the fresh rows handed back below it, and lapsed leases last.

The order is what keeps a claim cheap at a million rows (``newsletter.delivery.claim``'s
docstring; ``bench/scale.py`` measures it); these tests pin that nothing is lost to it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.claim import claim_batch, claimed_rows, fresh_ahead, last_sent
from newsletter.delivery.fanout import start_send
from newsletter.models import Delivery, DeliveryState
from tests.helpers.factories import NOW, issue_with, review

LEASE = timedelta(seconds=15)


def _sending(factory: sessionmaker[Session], settings: Settings, recipients: int) -> list[int]:
    """A sending issue's delivery ids, in id order (the issue's id is the rows')."""
    emails = [f"r{i:02d}@example.com" for i in range(recipients)]
    issue_id = issue_with(factory, settings, [review("a", "Film")], emails)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    with factory() as session:
        return sorted(session.scalars(select(Delivery.id).where(Delivery.issue_id == issue_id)))


def _issue_of(factory: sessionmaker[Session], delivery_id: int) -> int:
    with factory() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        return row.issue_id


def _set(factory: sessionmaker[Session], ids: list[int], **values: object) -> None:
    with transaction(factory) as session:
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(**values))


def _claim(factory: sessionmaker[Session], issue_id: int, limit: int, at: timedelta) -> list[int]:
    with transaction(factory) as session:
        claim = claim_batch(session, issue_id, NOW + at, "w", limit, LEASE)
        assert claim is not None
        return claim.ids


def test_waited_rows_go_first_then_fresh_ones_then_lapsed_leases(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    ids = _sending(factory, settings, 10)
    issue_id = _issue_of(factory, ids[0])
    assert _claim(factory, issue_id, 2, timedelta(0)) == ids[:2]  # a holder that then dies
    retry = {"state": DeliveryState.QUEUED, "attempts": 1}
    _set(factory, [ids[2]], next_at=NOW + timedelta(minutes=1), **retry)
    _set(factory, [ids[3]], next_at=NOW + timedelta(seconds=30), **retry)
    _set(factory, ids[4:6], state=DeliveryState.SENT, sent_at=NOW)
    later = timedelta(minutes=2)  # both retries due, the dead holder's lease long gone
    taken = _claim(factory, issue_id, 10, later)
    # earliest due first; fresh rows in id order; the lapsed leases fill what is left
    assert taken == [ids[3], ids[2], *ids[6:], *ids[:2]]
    with factory() as session:
        rows = session.execute(
            select(Delivery.state, Delivery.attempts).where(Delivery.id.in_(taken))
        ).all()
    assert {state for state, _ in rows} == {DeliveryState.SENDING}
    assert sorted(attempts for _, attempts in rows) == [1] * 4 + [2] * 4


def test_fresh_rows_handed_back_below_the_last_sent_row_are_not_lost(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    ids = _sending(factory, settings, 6)
    issue_id = _issue_of(factory, ids[0])
    assert _claim(factory, issue_id, 2, timedelta(0)) == ids[:2]
    _set(factory, [ids[1]], state=DeliveryState.SENT, sent_at=NOW)
    # a pause hands the unsent row back as it was: queued, never tried
    _set(factory, [ids[0]], state=DeliveryState.QUEUED, claimed_by=None, lease_until=None)
    assert _claim(factory, issue_id, 2, timedelta(seconds=1)) == ids[2:4]  # above the last sent
    assert _claim(factory, issue_id, 5, timedelta(seconds=2)) == [*ids[4:], ids[0]]
    assert _claim(factory, issue_id, 5, timedelta(seconds=3)) == []


def test_a_live_lease_is_never_taken_and_claimed_rows_are_the_claims_own(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    ids = _sending(factory, settings, 3)
    issue_id = _issue_of(factory, ids[0])
    with transaction(factory) as session:
        first = claim_batch(session, issue_id, NOW, "a", 2, LEASE)
        assert first is not None
        mine = claimed_rows(session, first)
    assert [row.delivery_id for row in mine] == ids[:2]
    with transaction(factory) as session:
        second = claim_batch(session, issue_id, NOW + LEASE / 2, "b", 5, LEASE)
        assert second is not None
        theirs = claimed_rows(session, second)
    assert [row.delivery_id for row in theirs] == ids[2:]  # a's rows are still a's
    assert all(row.eligible and row.attempts == 1 for row in [*mine, *theirs])


def test_fresh_ahead_is_true_only_while_rows_wait_past_the_last_one_sent(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    ids = _sending(factory, settings, 4)
    issue_id = _issue_of(factory, ids[0])

    def looked() -> tuple[int | None, bool]:
        with factory() as session:
            return last_sent(session, issue_id), fresh_ahead(session, issue_id)

    assert looked() == (None, True)
    assert _claim(factory, issue_id, 3, timedelta(0)) == ids[:3]
    _set(factory, ids[1:3], state=DeliveryState.SENT, sent_at=NOW)
    assert looked() == (ids[2], True)
    _set(factory, [ids[0]], state=DeliveryState.QUEUED, claimed_by=None, lease_until=None)
    assert _claim(factory, issue_id, 1, timedelta(seconds=1)) == [ids[3]]
    # only a row handed back below the last one sent is left: "not certainly running", and
    # the exact question (and the claim) still finds it
    assert looked() == (ids[2], False)
    assert _claim(factory, issue_id, 5, timedelta(seconds=2)) == [ids[0]]
