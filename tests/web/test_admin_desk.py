"""The preview desk (``/admin/issues/<id>``) through Flask's test client on a real database:
login, CSRF, each action changing the issue (read back through ``services.issues.show``), bad
input naming its field and changing nothing, editors allowed everywhere, wrong methods, the
preview frame's headers, and unknown issues."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Issue, IssueStatus
from newsletter.services import Context, issues, users
from newsletter.services.issues import IssueDetail
from tests.helpers.browser import screenshot
from tests.helpers.factories import NOW, issue_with, review, subscriber
from tests.helpers.web import STAFF_PASSWORD, form_token, log_in, serving

EDITOR = "ed@example.org"
READERS = ["ana@example.com", "bo@example.com"]
REVIEWS = [
    review("alpha", "Film", 1, 9.0),
    review("bravo", "Film", 2, 8.0),
    review("charlie", "Anime", 3, 7.0),
    review("delta", "TV", 20, 6.0),  # older than the week: pinnable, not in the draft
]


@pytest.fixture
def issue_id(factory: sessionmaker[Session], settings: Settings) -> int:
    built = issue_with(factory, settings, REVIEWS[:3], READERS[:1])
    with transaction(factory) as session:
        subscriber(session, READERS[1], picks=["Anime"], name="Bo Lin")
    return built


@pytest.fixture
def later(factory: sessionmaker[Session], issue_id: int) -> None:
    """The old review stored too (ingested after the build)."""
    from newsletter.ingest.store import store_reviews

    with transaction(factory) as session:
        store_reviews(session, REVIEWS[3:], now=NOW)


@pytest.fixture
def editor(client: FlaskClient, services: Context) -> FlaskClient:
    log_in(client, services, "editor", EDITOR)
    return client


def token_of(client: FlaskClient, issue_id: int) -> str:
    page = client.get(f"/admin/issues/{issue_id}").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def post(client: FlaskClient, issue_id: int, action: str, **data: str) -> TestResponse:
    data["csrf_token"] = token_of(client, issue_id)
    return client.post(f"/admin/issues/{issue_id}/{action}", data=data)


def show(services: Context, issue_id: int) -> IssueDetail:
    return issues.show(services, issue_id)


def live(detail: IssueDetail, section: str) -> list[str]:
    return [i.url for i in detail.items if i.section == section and not i.dropped]


def set_status(factory: sessionmaker[Session], issue_id: int, status: IssueStatus) -> None:
    with transaction(factory) as session:
        session.execute(update(Issue).where(Issue.id == issue_id).values(status=status))


# -- who may come in ---------------------------------------------------------------------------
def test_login_required_everywhere(client: FlaskClient, issue_id: int) -> None:
    for path in (
        f"/admin/issues/{issue_id}",
        f"/admin/issues/{issue_id}/preview.html",
        "/admin/subscribers/search?q=a",
        "/admin/reviews/search?q=a",
    ):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert "/admin/login" in answer.headers["Location"]
    token = form_token(client, "/admin/login")
    answer = client.post(f"/admin/issues/{issue_id}/approve", data={"csrf_token": token})
    assert answer.status_code == 303 and "/admin/login" in answer.headers["Location"]


def test_the_desk_shows_the_issue(editor: FlaskClient, services: Context, issue_id: int) -> None:
    answer = editor.get(f"/admin/issues/{issue_id}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    detail = show(services, issue_id)
    assert detail.row.subject in page
    for item in detail.items:
        assert item.title in page
    assert f"/admin/issues/{issue_id}/preview.html?dark=0" in page
    assert 'width="600"' in page and 'width="375"' in page
    assert "Hi Reader," in page  # the text part, everyone's version
    assert "<meter" in page and "KB budget" in page
    policy = answer.headers["Content-Security-Policy"]
    assert "frame-src 'self'" in policy and "script-src 'nonce-" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and page.count(f'nonce="{nonce.group(1)}"') >= 2
    assert "<script>" not in page and "style=" not in page  # only nonce'd blocks


def test_unknown_issue_is_404(editor: FlaskClient, issue_id: int) -> None:
    token = token_of(editor, issue_id)
    assert editor.get("/admin/issues/999").status_code == 404
    assert editor.get("/admin/issues/999/preview.html").status_code == 404
    for action in ("edit", "move", "drop", "pin", "test-send", "approve", "hold"):
        answer = editor.post(f"/admin/issues/999/{action}", data={"csrf_token": token})
        assert answer.status_code == 404, action


def test_csrf_is_required(editor: FlaskClient, services: Context, issue_id: int) -> None:
    before = show(services, issue_id)
    for action, data in (
        ("edit", {"subject": "Forged"}),
        ("approve", {}),
        ("drop", {"url": before.items[0].url}),
    ):
        answer = editor.post(f"/admin/issues/{issue_id}/{action}", data=data)
        assert answer.status_code == 400, action
    # a fetch() with a wrong header token is refused too
    answer = editor.post(
        f"/admin/issues/{issue_id}/move",
        data={"url": before.items[0].url, "position": "2"},
        headers={"X-CSRFToken": "nope", "Accept": "application/json"},
    )
    assert answer.status_code == 400
    assert show(services, issue_id) == before


def test_wrong_methods_are_405(editor: FlaskClient, issue_id: int) -> None:
    for action in ("edit", "move", "drop", "pin", "test-send", "approve", "hold"):
        assert editor.get(f"/admin/issues/{issue_id}/{action}").status_code == 405, action
    token = token_of(editor, issue_id)
    for path in ("", "/preview.html"):
        answer = editor.post(f"/admin/issues/{issue_id}{path}", data={"csrf_token": token})
        assert answer.status_code == 405, path
    assert editor.put(f"/admin/issues/{issue_id}/edit").status_code == 405
    assert editor.post("/admin/subscribers/search", data={"csrf_token": token}).status_code == 405


# -- the preview frames ------------------------------------------------------------------------
def test_preview_frame_headers(editor: FlaskClient, issue_id: int) -> None:
    answer = editor.get(f"/admin/issues/{issue_id}/preview.html?dark=0")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    policy = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "'none'" in policy
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert answer.headers["X-Frame-Options"] == "SAMEORIGIN"
    html = answer.get_data(as_text=True)
    assert "<script" not in html.lower()
    assert "Hi Reader," in html and "prefers-color-scheme: dark" in html
    dark = editor.get(f"/admin/issues/{issue_id}/preview.html?dark=1").get_data(as_text=True)
    assert (
        "prefers-color-scheme" not in dark and '<meta name="color-scheme" content="dark">' in dark
    )


def test_as_subscriber(editor: FlaskClient, issue_id: int) -> None:
    page = editor.get(f"/admin/issues/{issue_id}?subscriber=BO@example.com").get_data(as_text=True)
    assert "Bo Lin" in page and "Anime" in page and "greeting “Hi Bo”" in page
    frames = re.findall(r'data-light="([^"]+)"', page)
    assert frames and all("subscriber=bo@example.com&amp;dark=0" in f for f in frames), frames
    frame = editor.get(f"/admin/issues/{issue_id}/preview.html?subscriber=bo@example.com")
    html = frame.get_data(as_text=True)
    assert "Charlie" in html and "Alpha" not in html  # Anime only
    unknown = editor.get(f"/admin/issues/{issue_id}?subscriber=nobody@example.com")
    assert unknown.status_code == 422
    text = unknown.get_data(as_text=True)
    assert "nobody@example.com: no such subscriber" in text and "Hi Reader," in text
    bad = editor.get(f"/admin/issues/{issue_id}/preview.html?subscriber=nobody@example.com")
    assert bad.status_code == 422 and "no such subscriber" in bad.get_data(as_text=True)


def test_searches(editor: FlaskClient, issue_id: int, later: None) -> None:
    found = editor.get("/admin/subscribers/search?q=bo").get_json()
    assert found == [
        {"email": "bo@example.com", "name": "Bo Lin", "status": "confirmed", "sections": ["Anime"]}
    ]
    assert editor.get("/admin/subscribers/search?q=").get_json() == []
    hits = editor.get("/admin/reviews/search?q=delta").get_json()
    assert [h["url"] for h in hits] == ["https://reviews.example.com/delta/"]
    assert hits[0]["published_at"].startswith("2026-11-07")
    page = editor.get(f"/admin/issues/{issue_id}?review_q=delta").get_data(as_text=True)
    assert "REVIEW: Delta" in page  # the search works without JavaScript too


# -- changing the issue ------------------------------------------------------------------------
def test_edit(editor: FlaskClient, services: Context, issue_id: int) -> None:
    answer = post(
        editor, issue_id, "edit", subject="A fine week", preheader="Four reviews", intro="Hello."
    )
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/admin/issues/{issue_id}#edit")
    detail = show(services, issue_id)
    assert (detail.row.subject, detail.preheader, detail.intro) == (
        "A fine week",
        "Four reviews",
        "Hello.",
    )
    page = editor.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Saved the subject, preheader and intro." in page


def test_a_field_left_as_shown_is_not_saved(
    editor: FlaskClient, services: Context, issue_id: int
) -> None:
    """The form shows the automatic subject; saving the intro keeps it automatic (it still
    follows the top review after a move)."""
    before = show(services, issue_id)
    shown = before.row.subject
    answer = post(
        editor, issue_id, "edit", subject=shown, was_subject=shown, intro="New.", was_intro="Old"
    )
    assert answer.status_code == 303
    assert "Saved the intro." in editor.get(answer.headers["Location"]).get_data(as_text=True)
    last = live(before, "new")[-1]
    assert post(editor, issue_id, "move", url=last, position="1").status_code == 303
    after = show(services, issue_id)
    assert after.intro == "New." and after.row.subject != shown
    assert after.row.subject == "Charlie + 2 more"  # automatic: the new top
    answer = post(editor, issue_id, "edit", subject="x", was_subject="x")
    assert "Nothing to save" in editor.get(answer.headers["Location"]).get_data(as_text=True)


def test_bad_edit_names_the_field_and_saves_nothing(
    editor: FlaskClient, services: Context, issue_id: int
) -> None:
    before = show(services, issue_id)
    answer = post(editor, issue_id, "edit", subject="Fine", preheader="x" * 300, intro="New")
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="preheader-error"' in page and "300 characters, at most 200" in page
    assert 'value="Fine"' in page  # what was typed is kept
    assert show(services, issue_id) == before
    answer = post(editor, issue_id, "edit", subject="Two\nlines")
    assert answer.status_code == 422 and 'id="subject-error"' in answer.get_data(as_text=True)
    assert show(services, issue_id) == before


def test_move_up_down_and_by_drag(editor: FlaskClient, services: Context, issue_id: int) -> None:
    first, second = live(show(services, issue_id), "new")[:2]
    answer = post(editor, issue_id, "move", url=second, position="1")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("#items")
    assert live(show(services, issue_id), "new")[:2] == [second, first]
    # drag and drop: the same move from fetch(), token in the header, JSON back
    token = token_of(editor, issue_id)
    answer = editor.post(
        f"/admin/issues/{issue_id}/move",
        data={"url": second, "position": "2"},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert answer.status_code == 200 and answer.get_json() == {"ok": True}
    detail = show(services, issue_id)
    assert live(detail, "new")[:2] == [first, second]
    assert next(i for i in detail.items if i.url == second).pinned  # placed: never trimmed


def test_bad_moves_name_the_field(editor: FlaskClient, services: Context, issue_id: int) -> None:
    before = show(services, issue_id)
    url = live(before, "new")[0]
    answer = post(editor, issue_id, "move", url=url, position="first")
    assert answer.status_code == 422 and 'id="position-error"' in answer.get_data(as_text=True)
    answer = post(editor, issue_id, "move", url=url, position="0")
    assert answer.status_code == 422 and 'id="position-error"' in answer.get_data(as_text=True)
    answer = post(editor, issue_id, "move", position="1")
    assert answer.status_code == 422 and 'id="url-error"' in answer.get_data(as_text=True)
    token = token_of(editor, issue_id)
    answer = editor.post(
        f"/admin/issues/{issue_id}/move",
        data={"url": "https://reviews.example.com/nope/", "position": "1"},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"]["field"] == "move"
    assert show(services, issue_id) == before


def test_drop_restore_and_pin(
    editor: FlaskClient, services: Context, issue_id: int, later: None
) -> None:
    url = live(show(services, issue_id), "new")[0]
    assert post(editor, issue_id, "drop", url=url).status_code == 303
    detail = show(services, issue_id)
    assert url not in live(detail, "new")
    page = editor.get(f"/admin/issues/{issue_id}").get_data(as_text=True)
    assert "by an editor" in page and "Restore" in page
    assert post(editor, issue_id, "pin", url=url).status_code == 303
    assert url in live(show(services, issue_id), "new")
    old = "https://reviews.example.com/delta/"
    assert post(editor, issue_id, "pin", url=old).status_code == 303
    pinned = next(i for i in show(services, issue_id).items if i.url == old)
    assert pinned.pinned and not pinned.dropped
    before = show(services, issue_id)
    answer = post(editor, issue_id, "pin", url="https://reviews.example.com/unknown/")
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="pin-error"' in page and "no stored review at that URL" in page
    answer = post(editor, issue_id, "drop", url="not a url")
    assert answer.status_code == 422 and 'id="drop-error"' in answer.get_data(as_text=True)
    assert show(services, issue_id) == before


def test_test_send(
    editor: FlaskClient, services: Context, issue_id: int, transport: MemoryTransport
) -> None:
    answer = post(editor, issue_id, "test-send", to="one@example.net,\n two@example.net")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("#test")
    assert sorted(transport.recipients) == ["one@example.net", "two@example.net"]
    page = editor.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Test copy sent to one@example.net." in page
    assert "Test copy sent to two@example.net." in page
    for bad, reason in (("", "at least one address"), ("ok@example.net, not-an-address", "to")):
        answer = post(editor, issue_id, "test-send", to=bad)
        assert answer.status_code == 422
        assert 'id="to-error"' in answer.get_data(as_text=True), reason
    many = ",".join(f"p{n}@example.net" for n in range(11))
    assert post(editor, issue_id, "test-send", to=many).status_code == 422
    assert len(transport.recipients) == 2  # a bad list sends nothing


def test_approve_and_hold(
    editor: FlaskClient, services: Context, issue_id: int, factory: sessionmaker[Session]
) -> None:
    answer = post(editor, issue_id, "approve")
    assert answer.status_code == 303
    detail = show(services, issue_id)
    assert detail.row.approved_by == EDITOR and detail.approved_at is not None
    page = editor.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"Approved by {EDITOR}" in page
    assert post(editor, issue_id, "hold").status_code == 303
    detail = show(services, issue_id)
    assert detail.row.held_by == EDITOR and detail.row.approved_by is None
    assert detail.row.status == "draft"
    page = editor.get(f"/admin/issues/{issue_id}").get_data(as_text=True)
    assert f"by {EDITOR}" in page and ("(+" in page or "(-" in page)  # a time with its offset


def test_scheduled_issue_is_editable_sent_one_is_read_only(
    editor: FlaskClient, services: Context, issue_id: int, factory: sessionmaker[Session]
) -> None:
    from datetime import timedelta

    issues.schedule(services, issue_id, services.clock() + timedelta(days=2))
    assert post(editor, issue_id, "edit", subject="Still open").status_code == 303
    assert show(services, issue_id).row.status == "scheduled"
    set_status(factory, issue_id, IssueStatus.SENT)
    page = editor.get(f"/admin/issues/{issue_id}").get_data(as_text=True)
    assert "Read-only." in page and "cannot be changed" in page
    assert "fieldset disabled" in page and "Approve</button>" not in page
    assert 'draggable="true"' not in page
    before = show(services, issue_id)
    for action, data in (("edit", {"subject": "Too late"}), ("approve", {}), ("hold", {})):
        answer = post(editor, issue_id, action, **data)
        assert answer.status_code == 409, action
    answer = post(editor, issue_id, "drop", url=live(before, "new")[0])
    assert answer.status_code == 409 and "can be edited" in answer.get_data(as_text=True)
    assert show(services, issue_id) == before


# -- in a browser ------------------------------------------------------------------------------
@pytest.fixture
def served(settings: Settings, engine: Engine, services: Context) -> Iterator[str]:
    """``newsletter serve`` on a free port over the test's database; an editor exists."""
    users.add_user(services, EDITOR, "editor", STAFF_PASSWORD)
    with serving(settings) as base:
        yield base


def email_background(page: Any) -> list[str]:
    """The background of the email's container in each preview frame."""
    return [
        frame.evaluate("getComputedStyle(document.querySelector('.container')).backgroundColor")
        for frame in page.frames[1:]
    ]


def test_dark_mode_and_drag_and_drop_in_a_browser(
    served: str, browser: Any, services: Context, issue_id: int
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{served}/admin/login")
    page.fill("input[name=email]", EDITOR)
    page.fill("input[name=password]", STAFF_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.goto(f"{served}/admin/issues/{issue_id}")
    page.wait_for_load_state("load")
    assert email_background(page) == ["rgb(255, 255, 255)"] * 2
    page.click("#dark-toggle")
    for _ in range(100):  # the frames reload with their dark=1 copy
        if all(f.url.endswith("dark=1") for f in page.frames[1:]):
            page.wait_for_load_state("load")
            if email_background(page) == ["rgb(27, 30, 33)"] * 2:  # its dark rules apply
                break
        page.wait_for_timeout(50)
    assert email_background(page) == ["rgb(27, 30, 33)"] * 2
    assert page.get_attribute("#dark-toggle", "aria-pressed") == "true"
    screenshot(page, "desk-dark.png", full_page=False)
    # drag the third review of "New this week" onto the first: one move, then a reload
    order = live(show(services, issue_id), "new")
    rows = page.locator("ol[data-section=new] li.item")
    with page.expect_navigation():
        rows.nth(2).drag_to(rows.nth(0), target_position={"x": 40, "y": 5})
    assert live(show(services, issue_id), "new") == [order[2], order[0], order[1]]
    assert "Moved it to place 1." in page.inner_text("main")
    page.close()
