"""The control room through Flask's test client on a real database: who may see and act, CSRF,
each action as the services then see the issue, confirm steps, reschedule in the publication's
zone, refusals that change nothing, and the progress feed (JSON and Server-Sent Events)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.fanout import start_send
from newsletter.delivery.outage import Outage, record
from newsletter.delivery.progress import Progress
from newsletter.models import Delivery, DeliveryState
from newsletter.services import Context, issues, users
from tests.helpers.factories import NOW, issue_with, review
from tests.helpers.web import form_token, log_in

ZONE = ZoneInfo("America/New_York")
EMAILS = [f"reader{i}@example.com" for i in range(8)]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The publication's zone is New York: 09:00 there is 14:00 UTC in winter."""
    return settings.with_overrides(publication_zone="America/New_York")


@pytest.fixture
def operator(client: FlaskClient, services: Context) -> FlaskClient:
    log_in(client, services, "operator")
    return client


@pytest.fixture
def editor(client: FlaskClient, services: Context) -> FlaskClient:
    log_in(client, services, "editor")
    return client


def draft(factory: sessionmaker[Session], settings: Settings) -> int:
    reviews = [review("alpha", "Film"), review("beta", "Games"), review("gamma", "Anime")]
    return issue_with(factory, settings, reviews, EMAILS)


def in_flight(factory: sessionmaker[Session], settings: Settings) -> int:
    """An issue sending to 8 readers: 3 sent, 1 gave up after temporary failures, 1 unknown,
    1 refused for good, 2 still queued."""
    issue_id = draft(factory, settings)
    with transaction(factory) as session:
        start_send(session, settings, issue_id, NOW)
    outcomes = [
        (DeliveryState.SENT, None),
        (DeliveryState.SENT, None),
        (DeliveryState.SENT, None),
        (DeliveryState.FAILED, "gave up after 5: 451 4.7.1 Try again later"),
        (DeliveryState.UNKNOWN, "connection lost after DATA"),
        (DeliveryState.FAILED, "550 5.1.1 <reader5@example.com>: user unknown"),
    ]
    with transaction(factory) as session:
        ids = session.scalars(
            Delivery.__table__.select().with_only_columns(Delivery.id).order_by(Delivery.id)
        ).all()
        for row_id, (state, error) in zip(ids, outcomes, strict=False):
            session.execute(
                update(Delivery)
                .where(Delivery.id == row_id)
                .values(state=state, last_error=error, sent_at=NOW, attempts=1)
            )
    return issue_id


def post(client: FlaskClient, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    fields = dict(data or {})
    fields["csrf_token"] = form_token(client, "/admin/")
    answer = client.post(path, data=fields)
    return answer.status_code, answer.get_data(as_text=True)


def status_of(ctx: Context, issue_id: int) -> str:
    return issues.status(ctx, issue_id).status


# -- who may see and act ------------------------------------------------------------------------
def test_login_required(client: FlaskClient, services: Context) -> None:
    issue_id = draft(services.factory, services.settings)
    for path in (
        f"/admin/issues/{issue_id}/control",
        f"/admin/issues/{issue_id}/progress.json",
        f"/admin/issues/{issue_id}/events",
        f"/admin/issues/{issue_id}/control/cancel",
    ):
        answer = client.get(path)
        assert answer.status_code == 303 and "/admin/login" in answer.headers["Location"], path


ACTIONS = ["pause", "resume", "cancel", "send", "retry", "schedule", "unschedule"]


def test_editor_sees_the_room_read_only_and_gets_403_on_every_action(
    editor: FlaskClient, services: Context
) -> None:
    issue_id = in_flight(services.factory, services.settings)
    page = editor.get(f"/admin/issues/{issue_id}/control").get_data(as_text=True)
    assert "read-only for you" in page and "/control/pause" not in page
    for action in ACTIONS:
        code, _ = post(
            editor, f"/admin/issues/{issue_id}/control/{action}", {"confirm_week": "2026-W48"}
        )
        assert code == 403, action
    for action in ("send", "cancel", "retry"):  # the confirm pages too
        assert editor.get(f"/admin/issues/{issue_id}/control/{action}").status_code == 403
    assert status_of(services, issue_id) == "sending"


def test_csrf_missing_is_refused_and_changes_nothing(
    operator: FlaskClient, services: Context
) -> None:
    issue_id = in_flight(services.factory, services.settings)
    answer = operator.post(f"/admin/issues/{issue_id}/control/pause")
    assert answer.status_code == 400 and "expired" in answer.get_data(as_text=True)
    answer = operator.post(f"/admin/issues/{issue_id}/control/pause", data={"csrf_token": "forged"})
    assert answer.status_code == 400
    assert status_of(services, issue_id) == "sending"


def test_unknown_issue_404_and_wrong_method_405(operator: FlaskClient) -> None:
    assert operator.get("/admin/issues/999/control").status_code == 404
    assert operator.get("/admin/issues/999/progress.json").status_code == 404
    assert operator.get("/admin/issues/999/events").status_code == 404
    assert post(operator, "/admin/issues/999/control/pause")[0] == 404
    assert operator.get("/admin/issues/1/control/pause").status_code == 405
    assert operator.put("/admin/issues/1/control").status_code == 405


# -- the page -----------------------------------------------------------------------------------
def test_room_shows_counts_failures_and_a_live_feed(
    operator: FlaskClient, services: Context
) -> None:
    issue_id = in_flight(services.factory, services.settings)
    answer = operator.get(f"/admin/issues/{issue_id}/control")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert re.search(r'data-count="sent">3<', page) and re.search(r'data-count="queued">2<', page)
    assert '6</strong> of <span data-live="total">8</span> done' in page
    assert "451 4.7.1 Try again later" in page and "user unknown" in page  # servers' replies
    assert "/control/pause" in page and "/control/cancel" in page
    # the live numbers: a nonce'd script the page's own policy allows, and a no-JS refresh
    nonce = re.search(r'<script nonce="([^"]+)"', page)
    assert (
        nonce
        and f"script-src 'nonce-{nonce.group(1)}'" in answer.headers["Content-Security-Policy"]
    )
    assert "connect-src 'self'" in answer.headers["Content-Security-Policy"]
    assert '<noscript><meta http-equiv="refresh"' in page


def test_room_and_api_show_the_smtp_servers_outages(
    operator: FlaskClient, services: Context
) -> None:
    """Each outage a worker met (newsletter.delivery.outage): in the room, its JSON and the API."""
    issue_id = in_flight(services.factory, services.settings)
    met = Outage(0.0, NOW, tries=6, replies=["greeting: 421 4.3.2 shutting down"])
    record(services.factory, issue_id, "mta-host:4711", met)  # going on
    going = operator.get(f"/admin/issues/{issue_id}/progress.json").get_json()["outages"]
    assert going == [
        {
            "since": "2026-11-27 10:00 EST (-05:00)",
            "seconds": None,
            "tries": 6,
            "ended": None,
            "worker": "mta-host:4711",
            "replies": ["greeting: 421 4.3.2 shutting down"],
        }
    ]
    record(services.factory, issue_id, "mta-host:4711", met, ended="recovered")
    page = operator.get(f"/admin/issues/{issue_id}/control").get_data(as_text=True)
    assert "The SMTP server failed every message 1 time during this send" in page
    assert re.search(r"From 2026-11-27 10:00 EST \(-05:00\),\s+\d+ s, recovered", page)
    assert "6 retries by mta-host:4711" in page and "421 4.3.2 shutting down" in page
    users.add_user(services, "api@example.com", "operator", None)
    token = users.new_token(services, "api@example.com")
    api = operator.get(f"/api/issues/{issue_id}", headers={"Authorization": f"Bearer {token}"})
    (outage,) = api.get_json()["delivery"]["outages"]
    assert (outage["tries"], outage["ended"], outage["worker"]) == (6, "recovered", "mta-host:4711")
    assert outage["since"].startswith("2026-11-27T10:00:00") and outage["until"] is not None


def test_progress_json(operator: FlaskClient, services: Context) -> None:
    issue_id = in_flight(services.factory, services.settings)
    data = operator.get(f"/admin/issues/{issue_id}/progress.json").get_json()
    assert data["status"] == "sending" and data["total"] == 8 and data["remaining"] == 2
    assert data["counts"]["unknown"] == 1 and data["final"] is False
    assert data["bar"] == {"ok": 37.5, "bad": 37.5, "skip": 0.0}
    assert re.fullmatch(r"\d\d:\d\d:\d\d E[SD]T", data["checked"])  # the publication's zone


def events_of(body: str) -> list[tuple[str, dict[str, object]]]:
    found = []
    for block in body.split("\n\n"):
        name = re.search(r"^event: (\w+)$", block, re.M)
        data = re.search(r"^data: (.*)$", block, re.M)
        if name and data:
            found.append((name.group(1), json.loads(data.group(1))))
    return found


def test_events_stream_ends_for_a_sent_issue(operator: FlaskClient, services: Context) -> None:
    issue_id = in_flight(services.factory, services.settings)
    with transaction(services.factory) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.state == DeliveryState.QUEUED)
            .values(state=DeliveryState.SENT, sent_at=datetime.now(UTC))
        )
    issues.pause(services, issue_id)
    issues.cancel(services, issue_id)  # final: nothing moves any more
    answer = operator.get(f"/admin/issues/{issue_id}/events")
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    sent = events_of(answer.get_data(as_text=True))
    assert [name for name, _ in sent] == ["progress", "end"]
    assert sent[0][1]["status"] == "cancelled" and sent[0][1]["final"] is True
    assert sent[0][1]["eta"] is None and sent[0][1]["remaining"] == 0  # rows sent just now


def test_events_stream_of_a_moving_issue_is_bounded(
    operator: FlaskClient, services: Context
) -> None:
    issue_id = in_flight(services.factory, services.settings)
    operator.application.config.update(ADMIN_EVENTS_SECONDS=0.35, ADMIN_EVENTS_INTERVAL=0.1)
    body = operator.get(f"/admin/issues/{issue_id}/events").get_data(as_text=True)
    assert body.startswith("retry: ")
    sent = events_of(body)
    assert 2 <= len(sent) <= 5 and {name for name, _ in sent} == {"progress"}
    assert sent[-1][1]["counts"] == issues.status(services, issue_id).counts


# -- the actions --------------------------------------------------------------------------------
def test_pause_then_resume(operator: FlaskClient, services: Context) -> None:
    issue_id = in_flight(services.factory, services.settings)
    room = f"/admin/issues/{issue_id}/control"
    answer = operator.post(
        f"{room}/pause", data={"csrf_token": form_token(operator, room)}, follow_redirects=True
    )
    assert "Paused" in answer.get_data(as_text=True)
    assert status_of(services, issue_id) == "paused"
    assert "paused by operator@example.com" in (
        issues.status(services, issue_id).status_reason or ""
    )
    code, page = post(operator, f"{room}/pause")  # an illegal move: 409, its reason, no change
    assert code == 409 and "only a sending issue pauses" in page and "Nothing was changed" in page
    code, _ = post(operator, f"{room}/resume")
    assert code == 303  # no broker: the request itself sent the two queued rows
    progress = issues.status(services, issue_id)
    assert progress.status in ("sending", "sent") and progress.counts["queued"] == 0


def test_cancel_needs_the_week_typed(operator: FlaskClient, services: Context) -> None:
    issue_id = in_flight(services.factory, services.settings)
    confirm = operator.get(f"/admin/issues/{issue_id}/control/cancel").get_data(as_text=True)
    assert (
        "2 message(s) still to go will not be sent" in confirm and 'name="confirm_week"' in confirm
    )
    code, page = post(operator, f"/admin/issues/{issue_id}/control/cancel", {"confirm_week": "no"})
    assert code == 400 and "Type the week" in page and status_of(services, issue_id) == "sending"
    code, _ = post(
        operator, f"/admin/issues/{issue_id}/control/cancel", {"confirm_week": " 2026-w48 "}
    )
    assert code == 303 and status_of(services, issue_id) == "cancelled"
    assert issues.status(services, issue_id).counts["cancelled"] == 2


def test_retry_failed_lists_counts_and_queues_the_chosen(
    operator: FlaskClient, services: Context
) -> None:
    issue_id = in_flight(services.factory, services.settings)
    issues.pause(services, issue_id)  # rows retried on a paused issue wait for the resume
    confirm = operator.get(f"/admin/issues/{issue_id}/control/retry").get_data(as_text=True)
    assert "<strong>1</strong> message(s) that failed temporarily" in confirm
    assert "<strong>1</strong> message(s) whose outcome is unknown" in confirm
    code, page = post(operator, f"/admin/issues/{issue_id}/control/retry")
    assert code == 400 and "Tick the rows" in page
    assert issues.status(services, issue_id).counts["queued"] == 2
    code, _ = post(operator, f"/admin/issues/{issue_id}/control/retry", {"temporary": "yes"})
    assert code == 303
    counts = issues.status(services, issue_id).counts
    assert counts["queued"] == 3 and counts["unknown"] == 1 and counts["failed"] == 1


def test_send_now_needs_the_week_typed(operator: FlaskClient, services: Context) -> None:
    issue_id = draft(services.factory, services.settings)
    code, page = post(operator, f"/admin/issues/{issue_id}/control/send", {"confirm_week": ""})
    assert "Type the week" in page
    assert code == 400 and status_of(services, issue_id) == "draft"
    code, _ = post(operator, f"/admin/issues/{issue_id}/control/send", {"confirm_week": "2026-W48"})
    assert code == 303
    progress = issues.status(services, issue_id)  # no broker: sent by the request itself
    assert progress.total == len(EMAILS) and progress.status in ("sending", "sent")


def test_reschedule_in_the_publication_zone_then_unschedule(
    operator: FlaskClient, services: Context
) -> None:
    issue_id = draft(services.factory, services.settings)
    room = f"/admin/issues/{issue_id}/control"
    year = datetime.now(UTC).year + 1
    code, _ = post(operator, f"{room}/schedule", {"send_at": f"{year}-01-08T09:00"})
    assert code == 303
    detail = issues.show(services, issue_id)
    assert detail.row.status == "scheduled"
    assert detail.row.send_at is not None
    assert detail.row.send_at.replace(tzinfo=UTC) == datetime(year, 1, 8, 14, 0, tzinfo=UTC)
    page = operator.get(room).get_data(as_text=True)
    assert f"{year}-01-08 09:00 EST (-05:00)" in page and "America/New_York" in page
    assert f'value="{year}-01-08T09:00"' in page
    code, _ = post(operator, f"{room}/schedule", {"send_at": f"{year}-07-08T09:00"})
    send_at = issues.show(services, issue_id).row.send_at
    assert send_at is not None and send_at.replace(tzinfo=UTC).hour == 13  # EDT, -04:00
    code, _ = post(operator, f"{room}/unschedule")
    assert code == 303 and status_of(services, issue_id) == "draft"
    assert issues.show(services, issue_id).row.send_at is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2020-01-01T09:00", "Send at 2020-01-01 09:00: that is in the past; it is now 20"),
        ("tomorrow", "Send at tomorrow: not an ISO 8601 time"),
        ("", "Send at: a date and time are needed"),
        ("2031-03-09T02:30", "does not exist in America/New_York"),  # the spring-forward gap
    ],
)
def test_reschedule_refused_names_the_field_and_changes_nothing(
    operator: FlaskClient, services: Context, value: str, says: str
) -> None:
    issue_id = draft(services.factory, services.settings)
    later = datetime.now(UTC) + timedelta(days=3)
    issues.schedule(services, issue_id, later)
    code, page = post(operator, f"/admin/issues/{issue_id}/control/schedule", {"send_at": value})
    assert code == 422 and says in page and "nothing changed" in page
    assert 'aria-invalid="true"' in page
    row = issues.show(services, issue_id).row
    assert row.status == "scheduled" and row.send_at is not None
    assert abs(row.send_at.replace(tzinfo=UTC) - later) < timedelta(seconds=1)


def test_a_slow_look_makes_the_stream_wait_ten_looks(
    services: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look that takes 0.05 s (a million-row send takes 0.15-0.25 s) is followed by a wait
    of at least 0.5 s, whatever the configured interval: watching stays under a tenth of a
    core."""
    from newsletter.web.admin import live

    issue_id = in_flight(services.factory, services.settings)
    real = issues.status

    def slow(ctx: Context, wanted: int) -> Progress:
        progress = real(ctx, wanted)
        clock["now"] += 0.05  # the look's own time
        return progress

    clock = {"now": 0.0}
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(live, "issues", SimpleNamespace(status=slow))
    # the stream's own clock only (patching the time module would reach every library)
    monkeypatch.setattr(live, "time", SimpleNamespace(monotonic=lambda: clock["now"], sleep=sleep))
    list(live.stream(services, issue_id, seconds=3.0, interval=0.1))
    assert waits and all(wait >= 0.5 - 1e-9 for wait in waits)
    assert len(waits) <= 6  # 3 s of stream, a look and its wait at least 0.55 s each
