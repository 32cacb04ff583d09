"""The desk's pre-flight panel: run from the page in a real browser against ``newsletter
serve`` (whose one-click link the check POSTs to, as a dry run), at desktop and phone width;
and the POST is refused without its CSRF token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.services import Context, issues, users
from tests.helpers.browser import screenshot
from tests.helpers.factories import issue_with, review
from tests.helpers.web import STAFF_PASSWORD, log_in, serving

EDITOR = "ed@example.org"


@pytest.fixture
def issue_id(factory: sessionmaker[Session], settings: Settings) -> int:
    reviews = [review("alpha", "Film", 1, 9.0), review("bravo", "Anime", 2, 7.0)]
    return issue_with(factory, settings, reviews, ["ana@example.com"])


@pytest.fixture
def served(settings: Settings, engine: Engine, services: Context) -> Iterator[str]:
    users.add_user(services, EDITOR, "editor", STAFF_PASSWORD)
    with serving(settings) as base:
        yield base


def test_the_panel_runs_the_check_and_shows_what_to_fix(
    served: str,
    browser: Any,
    issue_id: int,
    factory: sessionmaker[Session],
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{served}/admin/login")
    page.fill("input[name=email]", EDITOR)
    page.fill("input[name=password]", STAFF_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.goto(f"{served}/admin/issues/{issue_id}")
    assert "Not checked yet" in page.inner_text("#check")
    with page.expect_navigation(timeout=60_000):
        page.click("#check button[type=submit]")
    panel = page.inner_text("#check")
    assert "Pre-flight check passed" in panel and "Passes" in panel
    assert "messages are not DKIM-signed" in panel  # a warning, with its fix
    assert "Fix: make a key with `newsletter dkim keygen`" in panel
    # the check POSTed to this server's one-click URL, which answered as a dry run
    assert "one-click unsubscribe answers 200 to a POST (dry run)" in page.content()
    with factory() as session:
        assert set(session.scalars(select(Subscriber.status))) == {SubscriberStatus.CONFIRMED}
    page.locator("#check").scroll_into_view_if_needed()
    screenshot(page, "desk-check.png", full_page=False)
    page.set_viewport_size({"width": 375, "height": 800})
    page.locator("#check").scroll_into_view_if_needed()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the desk scrolls sideways on a phone: {width}px"
    screenshot(page, "desk-check-phone.png", full_page=False)


def test_running_the_check_needs_the_form_token(
    client: FlaskClient, services: Context, issue_id: int
) -> None:
    log_in(client, services, "editor", EDITOR)
    refused = client.post(f"/admin/issues/{issue_id}/check", data={})
    assert refused.status_code == 400
    assert issues.last_check(services, issue_id) is None
