"""The JSON API through Flask's test client on a real database: every route's rules (a bearer
token, operators' routes, unknown issues, wrong methods, state refusals, bad fields named,
malformed JSON) and its happy path, ending in the services' state and the test transport."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.fanout import start_send
from newsletter.issues.status import FINISH, transition
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Delivery, DeliveryState, utcnow
from newsletter.services import Context, issues, users
from newsletter.services import subscribers as people
from newsletter.web import create_app
from tests.helpers.factories import issue_with, review, subscriber
from tests.helpers.web import settle

Call = Callable[..., TestResponse]
REVIEWS = [
    review("dune", "Film", days_ago=1, score=9),
    review("alien", "Film", days_ago=2, score=8),
    review("frieren", "Anime", days_ago=3, score=10),
]
URL = "https://reviews.example.com/{}/"
UNKNOWN = 999_999
# Every route: method, path ({id} is the issue), a valid body, operators only.
ROUTES: list[tuple[str, str, dict[str, Any] | None, bool]] = [
    ("GET", "/api/issues", None, False),
    ("GET", "/api/issues/{id}", None, False),
    ("GET", "/api/issues/{id}/preview", None, False),
    ("GET", "/api/issues/{id}/report", None, False),
    ("PATCH", "/api/issues/{id}", {"intro": "Hello"}, False),
    ("POST", "/api/issues/{id}/test-send", {"to": ["ed@example.com"]}, False),
    ("POST", "/api/issues/{id}/approve", None, False),
    ("POST", "/api/issues/{id}/hold", None, False),
    ("POST", "/api/issues/{id}/schedule", {"at": "2030-01-01T09:00"}, True),
    ("POST", "/api/issues/{id}/unschedule", None, True),
    ("POST", "/api/issues/{id}/send", None, True),
    ("POST", "/api/issues/{id}/pause", None, True),
    ("POST", "/api/issues/{id}/resume", None, True),
    ("POST", "/api/issues/{id}/cancel", None, True),
    ("POST", "/api/issues/{id}/retry-failed", {}, True),
    ("GET", "/api/subscribers?email=ana", None, True),
    ("POST", "/api/subscribers", {"email": "new@example.com"}, True),
]
ISSUE_ROUTES = [r for r in ROUTES if "{id}" in r[1]]
OPERATOR_ROUTES = [r for r in ROUTES if r[3]]


@pytest.fixture
def issue_id(services: Context) -> int:
    return issue_with(services.factory, services.settings, REVIEWS, ["ana@example.com"])


@pytest.fixture
def tokens(services: Context) -> dict[str, str]:
    users.add_user(services, "op@example.com", "operator", None)
    users.add_user(services, "ed@example.com", "editor", None)
    return {
        "operator": users.new_token(services, "op@example.com"),
        "editor": users.new_token(services, "ed@example.com"),
    }


def caller(client: FlaskClient, token: str | None) -> Call:
    def call(method: str, path: str, body: Any = None, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.open(path, method=method, json=body, headers=headers, **kwargs)

    return call


@pytest.fixture
def operator(client: FlaskClient, tokens: dict[str, str]) -> Call:
    return caller(client, tokens["operator"])


@pytest.fixture
def editor(client: FlaskClient, tokens: dict[str, str]) -> Call:
    return caller(client, tokens["editor"])


def error(response: TestResponse, status: int, field: str | None = None) -> dict[str, Any]:
    """The error body, after checking the status, the shape and the field named."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()["error"]
    assert set(body) == {"code", "message", "field"} and body["message"]
    assert body["field"] == field, body
    return body


def start(factory: sessionmaker[Session], settings: Settings, issue_id: int) -> None:
    """Fan the issue out (status sending, rows queued) without running any batch."""
    with transaction(factory) as session:
        start_send(session, settings, issue_id, utcnow())


# -- who may call -------------------------------------------------------------------------------
def test_a_token_is_required(client: FlaskClient, issue_id: int, tokens: dict[str, str]) -> None:
    """Every route (one app for all of them: the rule is the same)."""
    for method, path, body, _ in ROUTES:
        path = path.format(id=issue_id)
        for token, kind in ((None, None), ("not-a-token", "invalid_token")):
            answer = caller(client, token)(method, path, body)
            assert error(answer, 401)["code"] == "unauthorized", (method, path)
            challenge = answer.headers["WWW-Authenticate"]
            assert challenge.startswith("Bearer ") and (kind is None or kind in challenge)
        basic = {"Authorization": "Basic eDp5"}
        error(client.open(path, method=method, json=body, headers=basic), 401)


def test_a_revoked_token_stops_working(
    services: Context, operator: Call, tokens: dict[str, str]
) -> None:
    assert operator("GET", "/api/issues").status_code == 200
    users.revoke_tokens(services, "op@example.com")
    error(operator("GET", "/api/issues"), 401)


def test_editors_get_403_on_operator_routes(
    editor: Call, services: Context, issue_id: int, transport: MemoryTransport
) -> None:
    for method, path, body, _ in OPERATOR_ROUTES:
        answer = editor(method, path.format(id=issue_id), body)
        assert error(answer, 403)["code"] == "forbidden", (method, path)
        assert "editor" in answer.get_json()["error"]["message"]
    shown = issues.show(services, issue_id).row
    assert (shown.status, shown.recipients) == ("draft", 0)
    assert transport.sent == []  # nor was the sign-up's confirmation sent


def test_the_document_needs_no_token(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json")
    assert document.status_code == 200
    spec = document.get_json()
    assert spec["openapi"] == "3.1.0" and spec["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    documented = {
        (m.upper(), p) for p, ops in spec["paths"].items() for m in ops if m != "parameters"
    }
    for method, path, _, _ in ROUTES:
        assert (method, path.replace("{id}", "{issue_id}").partition("?")[0]) in documented


# -- what is refused ----------------------------------------------------------------------------
def test_an_unknown_issue_is_404(operator: Call) -> None:
    for method, path, body, _ in ISSUE_ROUTES:
        answer = operator(method, path.format(id=UNKNOWN), body)
        assert error(answer, 404)["code"] == "not_found", (method, path)
    error(operator("GET", "/api/issues/0"), 404)  # not an issue id at all


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/issues/1"),
        ("PUT", "/api/issues"),
        ("GET", "/api/issues/1/send"),
        ("DELETE", "/api/subscribers"),
    ],
)
def test_a_wrong_method_is_405(operator: Call, method: str, path: str) -> None:
    answer = operator(method, path)
    assert error(answer, 405)["code"] == "method_not_allowed"
    assert answer.headers["Allow"]


def test_an_unknown_route_is_404_in_the_shape(operator: Call) -> None:
    error(operator("GET", "/api/nothing-here"), 404)


def test_the_pages_keep_their_own_errors(client: FlaskClient) -> None:
    """The API's error handler answers under /api/ only."""
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_malformed_json_is_400(operator: Call, issue_id: int) -> None:
    for method, path in (("PATCH", f"/api/issues/{issue_id}"), ("POST", "/api/subscribers")):
        answer = operator(method, path, data=b'{"intro": ', content_type="application/json")
        assert error(answer, 400)["code"] == "malformed"
    form = operator("PATCH", f"/api/issues/{issue_id}", data={"intro": "x"})
    assert error(form, 415)["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PATCH", "", {"pins": ["https://reviews.example.com/missing/"]}, "pins"),
        ("PATCH", "", {"drops": ["not a url"]}, "drops.0"),
        ("PATCH", "", {"moves": [{"url": URL.format("dune"), "position": 0}]}, "moves.0.position"),
        ("PATCH", "", {"subject": "two\nlines"}, "subject"),
        ("PATCH", "", {"colour": "red"}, "colour"),
        ("PATCH", "", {"order": {"trending": [URL.format("dune")]}}, "order.trending.0"),
        ("PATCH", "", {}, None),
        ("POST", "/test-send", {"to": ["nobody"]}, "to.0"),
        ("POST", "/test-send", {"to": []}, "to"),
        ("POST", "/test-send", {}, "to"),
        ("POST", "/schedule", {"at": "next friday"}, "at"),
        ("POST", "/schedule", {"at": "2020-01-01T09:00:00Z"}, "at"),
        ("GET", "/preview?format=pdf", None, "format"),
        ("GET", "/preview?subscriber=zoe@example.com", None, "subscriber"),
    ],
)
def test_a_bad_field_is_422_and_named(
    operator: Call,
    issue_id: int,
    services: Context,
    method: str,
    path: str,
    body: Any,
    field: str | None,
) -> None:
    before = issues.show(services, issue_id)
    answer = operator(method, f"/api/issues/{issue_id}{path}", body)
    error(answer, 422, field)
    after = issues.show(services, issue_id)
    assert (after.version, after.row.status) == (before.version, before.row.status)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not an address"}, "email"),
        ({"email": "ana@example.com", "categories": ["Opera"]}, "categories"),
        ({"name": "Ana"}, "email"),
        ({"email": "ana@example.com", "name": "x" * 500}, "name"),
    ],
)
def test_a_bad_sign_up_is_422_and_named(
    operator: Call,
    services: Context,
    transport: MemoryTransport,
    body: dict[str, Any],
    field: str,
) -> None:
    error(operator("POST", "/api/subscribers", body), 422, field)
    assert people.search(services, "example.com") == []
    assert transport.sent == []


def test_illegal_state_moves_are_409(
    operator: Call, services: Context, issue_id: int, transport: MemoryTransport
) -> None:
    for action in ("pause", "resume", "cancel", "unschedule"):
        body = error(operator("POST", f"/api/issues/{issue_id}/{action}"), 409)
        assert body["code"] == "conflict" and f"issue {issue_id} is draft" in body["message"]
    assert operator("POST", f"/api/issues/{issue_id}/send").status_code == 200
    error(operator("POST", f"/api/issues/{issue_id}/send"), 409)
    error(operator("POST", f"/api/issues/{issue_id}/schedule", {"at": "2030-01-01T09:00"}), 409)
    edited = error(operator("PATCH", f"/api/issues/{issue_id}", {"intro": "late"}), 409)
    assert "sent" in edited["message"]
    assert issues.show(services, issue_id).intro != "late"


# -- what works ---------------------------------------------------------------------------------
def test_list_and_detail(operator: Call, editor: Call, issue_id: int) -> None:
    listed = editor("GET", "/api/issues")
    assert listed.status_code == 200
    (row,) = listed.get_json()["issues"]
    assert row["id"] == issue_id and row["status"] == "draft" and row["week"] == "2026-W48"
    assert row["counts"] == {"recipients": 0, "sent": 0, "failed": 0, "clicks": 0}
    assert row["subject"] and row["scheduled_at"] is None
    shown = operator("GET", f"/api/issues/{issue_id}").get_json()
    assert [s["name"] for s in shown["sections"]] == ["new", "trending"]
    urls = [i["url"] for s in shown["sections"] for i in s["items"]]
    assert set(urls) == {URL.format(s) for s in ("dune", "alien", "frieren")}
    new = shown["sections"][0]["items"]
    assert [i["position"] for i in new] == list(range(1, len(new) + 1))
    assert shown["size"]["bytes"] > 0 and shown["size"]["over_budget"] is False
    assert shown["editable"] is True and not any(shown["delivery"]["counts"].values())


def test_patch_edits_the_issue(editor: Call, services: Context, issue_id: int) -> None:
    before = issues.show(services, issue_id)
    new = [i.url for i in before.items if i.section == "new" and not i.dropped]
    assert URL.format("alien") in new and len(new) >= 3
    refused = editor(
        "PATCH",
        f"/api/issues/{issue_id}",
        {"drops": [URL.format("alien")], "order": {"new": new}},
    )
    error(refused, 422, f"order.new.{new.index(URL.format('alien'))}")  # dropped first
    new.remove(URL.format("alien"))
    answer = editor(
        "PATCH",
        f"/api/issues/{issue_id}",
        {
            "subject": "This week: Frieren",
            "preheader": "Three reviews",
            "intro": "Hello, readers.",
            "order": {"new": list(reversed(new))},
            "drops": [URL.format("alien")],
        },
    )
    assert answer.status_code == 200, answer.get_json()
    shown = answer.get_json()
    assert shown["subject"] == "This week: Frieren" and shown["intro"] == "Hello, readers."
    assert shown["version"] == before.version + 1
    items = {i["url"]: i for s in shown["sections"] for i in s["items"]}
    assert items[URL.format("alien")]["dropped"] is True
    live = [i["url"] for i in shown["sections"][0]["items"] if not i["dropped"]]
    assert live == list(reversed(new))
    moved = editor(
        "PATCH",
        f"/api/issues/{issue_id}",
        {"pins": [URL.format("alien")], "moves": [{"url": URL.format("alien"), "position": 1}]},
    )
    assert moved.status_code == 200
    first = moved.get_json()["sections"][0]["items"][0]
    assert first["url"] == URL.format("alien") and first["pinned"] is True


def test_preview_as_a_subscriber(editor: Call, services: Context, issue_id: int) -> None:
    html = editor("GET", f"/api/issues/{issue_id}/preview")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert "sandbox" in html.headers["Content-Security-Policy"]
    assert b"Dune" in html.data
    with transaction(services.factory) as session:
        subscriber(session, "kai@example.com", picks=["Anime"], name="Kai")
    text = editor("GET", f"/api/issues/{issue_id}/preview?format=text&subscriber=kai@example.com")
    assert text.status_code == 200 and text.mimetype == "text/plain"
    body = text.get_data(as_text=True)
    assert "Kai" in body and "Frieren" in body and "Dune" not in body


def test_test_send_arrives(editor: Call, issue_id: int, transport: MemoryTransport) -> None:
    answer = editor("POST", f"/api/issues/{issue_id}/test-send", {"to": ["ed@example.com"]})
    assert answer.status_code == 200
    (copy,) = answer.get_json()["copies"]
    assert copy["address"] == "ed@example.com" and copy["error"] is None
    assert transport.recipients == ["ed@example.com"]
    assert b"Subject: [TEST] " in transport.sent[0][1]


def test_schedule_in_the_publications_zone(
    operator: Call, services: Context, issue_id: int
) -> None:
    zone = services.settings.timezone
    local = (utcnow() + timedelta(days=3)).astimezone(zone).replace(microsecond=0, second=0)
    answer = operator(
        "POST", f"/api/issues/{issue_id}/schedule", {"at": local.replace(tzinfo=None).isoformat()}
    )
    assert answer.status_code == 200, answer.get_json()
    row = answer.get_json()
    assert row["status"] == "scheduled" and row["scheduled_at"] == local.isoformat()
    assert issues.show(services, issue_id).row.send_at == local
    offset = operator("POST", f"/api/issues/{issue_id}/schedule", {"at": "2031-06-01T09:00Z"})
    assert offset.status_code == 200
    send_at = issues.show(services, issue_id).row.send_at
    assert send_at is not None and send_at.isoformat() == "2031-06-01T09:00:00+00:00"
    back = operator("POST", f"/api/issues/{issue_id}/unschedule")
    assert back.get_json()["status"] == "draft"


def test_times_are_read_and_shown_in_the_publications_zone(
    services: Context, issue_id: int, tokens: dict[str, str]
) -> None:
    zoned = services.settings.with_overrides(publication_zone="America/New_York")
    context = Context(zoned, services.factory, transport_factory=services.transport_factory)
    with create_app(zoned, context=context).test_client() as client:
        call = caller(client, tokens["operator"])
        path = f"/api/issues/{issue_id}/schedule"
        winter = call("POST", path, {"at": "2027-01-15T09:00"}).get_json()
        assert winter["scheduled_at"] == "2027-01-15T09:00:00-05:00"
        assert issues.show(services, issue_id).row.send_at == datetime(2027, 1, 15, 14, tzinfo=UTC)
        summer = call("POST", path, {"at": "2027-07-15T09:00"}).get_json()
        assert summer["scheduled_at"] == "2027-07-15T09:00:00-04:00"
        given = call("POST", path, {"at": "2027-07-15T09:00:00+02:00"}).get_json()
        assert given["scheduled_at"] == "2027-07-15T03:00:00-04:00"
        skipped = call("POST", path, {"at": "2027-03-14T02:30"})  # clocks go 02:00 -> 03:00
        assert "does not exist" in error(skipped, 422, "at")["message"]
        assert issues.show(services, issue_id).row.send_at == datetime(2027, 7, 15, 7, tzinfo=UTC)


def test_send_pause_resume_cancel(operator: Call, services: Context, issue_id: int) -> None:
    # No broker: the batches run in this process, on the mail set-up's own transport.
    sent = operator("POST", f"/api/issues/{issue_id}/send")
    assert sent.status_code == 200, sent.get_json()
    body = sent.get_json()
    assert body["created"] == 1 and body["queued"] is False
    assert body["issue"]["status"] == "sent" and body["issue"]["counts"]["sent"] == 1
    report = operator("GET", f"/api/issues/{issue_id}/report").get_json()
    assert report["delivered"] == 1 and report["recipients"] == 1 and len(report["reviews"]) == 3


def test_pause_resume_and_cancel_a_send(operator: Call, services: Context, issue_id: int) -> None:
    start(services.factory, services.settings, issue_id)  # sending, nothing sent yet
    paused = operator("POST", f"/api/issues/{issue_id}/pause")
    assert paused.status_code == 200 and paused.get_json()["status"] == "paused"
    assert issues.show(services, issue_id).status_reason == "paused by op@example.com"
    resumed = operator("POST", f"/api/issues/{issue_id}/resume")
    assert resumed.get_json()["status"] in ("sending", "sent")  # batches ran in this process
    assert resumed.get_json()["counts"]["sent"] == 1


def test_cancel_a_send(operator: Call, services: Context, issue_id: int) -> None:
    start(services.factory, services.settings, issue_id)
    cancelled = operator("POST", f"/api/issues/{issue_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    retry = operator("POST", f"/api/issues/{issue_id}/retry-failed", {})
    assert error(retry, 409)["code"] == "conflict"


def test_retry_failed(operator: Call, services: Context, issue_id: int) -> None:
    start(services.factory, services.settings, issue_id)
    with transaction(services.factory) as session:
        row = session.query(Delivery).filter_by(issue_id=issue_id).one()
        row.state, row.last_error = DeliveryState.UNKNOWN, "421 connection lost after the dot"
    with transaction(services.factory) as session:
        transition(session, issue_id, FINISH, utcnow())
    answer = operator("POST", f"/api/issues/{issue_id}/retry-failed", {"temporary": False})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["requeued"] == 1
    assert issues.show(services, issue_id).row.sent == 1


def test_approve_and_hold(editor: Call, issue_id: int) -> None:
    approved = editor("POST", f"/api/issues/{issue_id}/approve")
    assert approved.status_code == 200 and approved.get_json()["approved_by"] == "ed@example.com"
    held = editor("POST", f"/api/issues/{issue_id}/hold")
    assert held.status_code == 200 and held.get_json()["held_by"] == "ed@example.com"


def test_subscribers_lookup_and_sign_up(
    operator: Call, issue_id: int, transport: MemoryTransport, client: FlaskClient
) -> None:
    found = operator("GET", "/api/subscribers?email=ana@")
    assert found.status_code == 200
    (ana,) = found.get_json()["subscribers"]
    assert ana["email"] == "ana@example.com" and ana["status"] == "confirmed"
    error(operator("GET", "/api/subscribers"), 422, "email")
    answer = operator(
        "POST",
        "/api/subscribers",
        {"email": " Zoe@Example.com ", "name": "Zoe", "categories": ["Film"]},
    )
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json() == {
        "email": "zoe@example.com",
        "outcome": "new",
        "confirmation": "queued",
    }
    settle(client)
    assert transport.recipients == ["zoe@example.com"]
    zoe = operator("GET", "/api/subscribers?email=zoe").get_json()["subscribers"][0]
    assert zoe["status"] == "pending" and zoe["sections"] == ["Film"]
    again = operator("POST", "/api/subscribers", {"email": "ana@example.com"})
    assert again.get_json()["outcome"] == "already" and again.get_json()["confirmation"] == "none"


def test_no_csrf_token_is_needed_and_no_cookie_is_set(operator: Call, issue_id: int) -> None:
    answer = operator("POST", f"/api/issues/{issue_id}/approve")
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
