"""The issue's state machine: the legal moves, an illegal one changing nothing, and two
processes racing for the same move leaving exactly one winner (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import make_engine, session_factory, transaction
from newsletter.delivery.fanout import start_send
from newsletter.errors import WorkError
from newsletter.issues.status import (
    ACTIONS,
    CANCEL,
    FINISH,
    LEGAL,
    PAUSE,
    RESUME,
    SCHEDULE,
    START,
    UNSCHEDULE,
    Action,
    IllegalTransition,
    IssueChanged,
    transition,
)
from newsletter.models import Issue, IssueStatus
from newsletter.services import Context
from newsletter.services import issues as issue_services
from tests.helpers.env import NOW
from tests.helpers.factories import issue_with, review

D, SC, SE = IssueStatus.DRAFT, IssueStatus.SCHEDULED, IssueStatus.SENDING
P, ST, C = IssueStatus.PAUSED, IssueStatus.SENT, IssueStatus.CANCELLED


def test_the_legal_moves() -> None:
    expected: dict[IssueStatus, set[IssueStatus]] = {
        D: {SC, SE},
        SC: {D, SC, SE, C},  # back to draft for the editors; a new time; start; cancel
        SE: {P, ST, C},
        P: {SE, C},
        ST: {SE},  # reopened to retry failed rows ("retry failed")
        C: set(),
    }
    assert expected == LEGAL
    assert {a.name for a in ACTIONS} == {
        "schedule",
        "unschedule",
        "start",
        "pause",
        "resume",
        "finish",
        "reopen",
        "cancel",
    }


def _sending(factory: sessionmaker[Session], settings: Settings) -> int:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["a@x.example"])
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    return issue_id


def _state(factory: sessionmaker[Session], issue_id: int) -> tuple[IssueStatus, str | None, str]:
    with factory() as session:
        issue = session.get_one(Issue, issue_id)
        return issue.status, issue.status_reason, issue.updated_at.isoformat()


@pytest.mark.parametrize(
    ("action", "status"),
    [(PAUSE, D), (RESUME, D), (FINISH, D), (UNSCHEDULE, D), (CANCEL, D), (START, SE)],
)
def test_an_illegal_move_raises_and_changes_nothing(
    factory: sessionmaker[Session], settings: Settings, action: Action, status: IssueStatus
) -> None:
    issue_id = (
        _sending(factory, settings)
        if status is SE
        else issue_with(factory, settings, [review("a", "Film")], ["a@x.example"])
    )
    before = _state(factory, issue_id)
    assert before[0] is status
    refused = pytest.raises(IllegalTransition, match=f"issue {issue_id} is {status.value}")
    with refused, transaction(factory) as session:
        transition(session, issue_id, action, NOW + timedelta(hours=1))
    assert _state(factory, issue_id) == before


def test_a_stale_read_loses_to_the_move_that_landed_first(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    """Both saw "sending"; the first pause lands, the second finds no row in that status."""
    issue_id = _sending(factory, settings)
    with transaction(factory) as session:
        transition(session, issue_id, PAUSE, NOW, expected=SE, status_reason="first")
    later = NOW + timedelta(minutes=1)
    with pytest.raises(IssueChanged, match="is paused"), transaction(factory) as session:
        transition(session, issue_id, CANCEL, later, expected=SE, status_reason="second")
    status, reason, _ = _state(factory, issue_id)
    assert (status, reason) == (P, "first")


def test_scheduling_twice_moves_the_time_and_unscheduling_goes_back_to_draft(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("a", "Film")], ["a@x.example"])
    at = NOW + timedelta(days=1)
    with transaction(factory) as session:
        assert transition(session, issue_id, SCHEDULE, NOW, send_at=at) is D
        assert transition(session, issue_id, SCHEDULE, NOW, send_at=at + timedelta(hours=2)) is SC
    with transaction(factory) as session:
        assert transition(session, issue_id, UNSCHEDULE, NOW, send_at=None) is SC
        assert session.get_one(Issue, issue_id).status is D  # the session sees the move


def _pause_from_another_process(settings: Settings, issue_id: int, barrier: object) -> str:
    engine = make_engine(settings)
    try:
        context = Context(settings, session_factory(engine))
        barrier.wait()  # type: ignore[attr-defined]
        me = multiprocessing.current_process().pid
        try:
            issue_services.pause(context, issue_id, reason=f"pid {me}")
        except WorkError as exc:
            return f"lost: {exc}"
        return "won"
    finally:
        engine.dispose()


def test_processes_racing_for_the_same_move_leave_one_winner(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = _sending(factory, settings)
    racers = 4
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager:
        barrier = manager.Barrier(racers)
        with spawn.Pool(racers) as pool:
            outcomes = pool.starmap(
                _pause_from_another_process, [(settings, issue_id, barrier)] * racers
            )
    assert outcomes.count("won") == 1, outcomes
    losers = [o for o in outcomes if o != "won"]
    assert all(o.startswith(f"lost: issue {issue_id} is paused") for o in losers), losers
    status, reason, _ = _state(factory, issue_id)
    assert status is P
    assert reason is not None and reason.startswith("pid ")
