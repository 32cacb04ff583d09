"""The staff's journeys in headless Chromium against the real stack (tests/helpers/stack.py):
``newsletter serve`` on PostgreSQL, two Celery workers on Redis, an aiosmtpd capture server.

- The editor logs in, previews the week's draft at both widths and as one subscriber, drags
  a review up and drops another, edits the intro, sends a test copy that reaches the capture
  server, and approves.
- The operator schedules the issue in the publication's zone, sends it now, pauses, resumes,
  watches the numbers move without a reload, sees one address fail after its retries, retries
  it until it arrives, and opens the report with its two charts; then the public pages.

Every page is photographed at 1280 and 375 px wide into ``NEWSLETTER_SHOTS_DIR`` (default: a
``shots`` folder in the module's temporary directory), for a person to look at. The journeys
share one stack and one issue, in this order (the editor prepares what the operator sends);
each also runs alone. PostgreSQL only: the stack is several processes writing one database.
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.delivery.attempts import MAX_ATTEMPTS
from newsletter.ingest.records import ReviewRecord
from newsletter.ingest.store import store_reviews
from newsletter.models import Delivery, DeliveryState, Subscriber
from newsletter.services import issues, reports
from tests.helpers.env import TEST_DATABASE_URL, backend
from tests.helpers.factories import subscriber
from tests.helpers.stack import (
    HEIGHT,
    WATCH_POLICY,
    WIDTHS,
    Stack,
    flash,
    fresh_database,
    running_stack,
    shoot,
    until,
)

pytestmark = [
    pytest.mark.skipif(
        backend() != "postgresql",
        reason="the journeys run a stack of processes (serve, two workers) on one database: "
        "PostgreSQL only (set NEWSLETTER_TEST_DATABASE_URL)",
    ),
    pytest.mark.postgres,
    pytest.mark.redis,
]

PASSWORD = "correct horse battery staple"
EDITOR = "editor@example.org"
OPERATOR = "operator@example.org"
ANN = "ann@example.com"  # the subscriber the editor previews as: Anime only, greeted by name
GREYLISTED = "greylisted@example.com"  # the capture server defers her until told otherwise
PROOF = "proof@example.org"  # where the editor's test copy goes
READERS = [f"reader{n:02d}@example.com" for n in range(30)]
EVERYONE = 2 + len(READERS)  # Ann, the greylisted reader and the rest
# (slug, category, days ago, score): the week's new reviews, best first
REVIEWS = [
    ("moonfall", "Film", 1, 9.5),
    ("harbour-lights", "Film", 2, 8.5),
    ("blue-orbit", "Anime", 1.5, 8.0),
    ("night-shift", "TV", 3, 7.5),
    ("paper-kings", "Comics", 2.5, 7.0),
]


def title_of(slug: str) -> str:
    return f"REVIEW: {slug.replace('-', ' ').title()}"


def emailed(slug: str) -> str:
    """The title as the digest shows it: without the site's "REVIEW:" prefix."""
    return slug.replace("-", " ").title()


def records(now: datetime) -> list[ReviewRecord]:
    return [
        ReviewRecord(
            url=f"https://reviews.example.com/{slug}/",
            title=title_of(slug),
            category=category,
            author="Jo Park",
            published_at=now - timedelta(days=days),
            score=score,
            score_max=10,
            tldr=f"The short of {slug}.",
            image_url=None,
        )
        for slug, category, days, score in REVIEWS
    ]


# -- the stack, the issue, the photographs --------------------------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, _migrated_server: None) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("journeys")
    settings = Settings(
        database_url=TEST_DATABASE_URL,
        data_dir=folder / "data",
        secret_key="journeys-secret-" + "k" * 16,
        from_address="Reviews Weekly <digest@reviews.example.com>",
    )
    fresh_database(settings)
    with running_stack(settings, folder) as running:
        running.add_user(EDITOR, "editor", PASSWORD)
        running.add_user(OPERATOR, "operator", PASSWORD)
        yield running


@pytest.fixture(scope="module")
def issue_id(stack: Stack) -> int:
    """This week's draft, built from the week's reviews for the module's readers."""
    now = datetime.now(UTC)
    with transaction(stack.ctx.factory) as session:
        store_reviews(session, records(now), now=now)
        subscriber(session, ANN, picks=["Anime"], name="Ann Lee")
        subscriber(session, GREYLISTED)
        for email in READERS:
            subscriber(session, email)
    return issues.build(stack.ctx, now=now).issue_id


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("NEWSLETTER_SHOTS_DIR") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(browser: Any, stack: Stack, email: str, shots: Path | None = None) -> Any:
    """A new browser context (its own cookies) signed in as ``email``: the issues list."""
    context = browser.new_context(viewport={"width": WIDTHS["desktop"], "height": HEIGHT})
    context.add_init_script(WATCH_POLICY)
    page = context.new_page()
    page.goto(stack.url("/admin/"))  # not signed in: to the login page, and back after it
    assert "/admin/login" in page.url
    if shots is not None:
        shoot(page, shots, "login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert page.url == stack.url("/admin/"), page.url
    return page


# -- the editor ---------------------------------------------------------------------------------
def frames_text(page: Any) -> list[str]:
    """The body text of the desk's two preview frames, once both have loaded."""
    frames = page.locator("#frames iframe")
    assert frames.count() == 2
    texts = []
    for n in range(2):
        body = frames.nth(n).content_frame.locator("body")
        body.wait_for()
        texts.append(body.inner_text())
    return texts


def live_order(stack: Stack, issue_id: int, section: str = "new") -> list[str]:
    detail = issues.show(stack.ctx, issue_id)
    return [i.title for i in detail.items if i.section == section and not i.dropped]


def test_the_editor_previews_edits_tests_and_approves(
    stack: Stack, issue_id: int, browser: Any, shots: Path
) -> None:
    page = log_in(browser, stack, EDITOR, shots)
    shoot(page, shots, "list")
    page.get_by_role("link", name="Desk").first.click()
    page.wait_for_url(stack.url(f"/admin/issues/{issue_id}"))

    # The preview at both widths: each frame holds the email, at its own width.
    widths = page.locator("#frames iframe").evaluate_all(
        "fs => fs.map(f => f.getBoundingClientRect().width)"
    )
    assert widths == [600, 375]
    for text in frames_text(page):
        assert emailed("moonfall") in text and emailed("blue-orbit") in text
    shoot(page, shots, "desk")

    # Dark mode: both frames reload with their dark copy.
    page.click("#dark-toggle")
    until(
        page,
        "() => [...document.querySelectorAll('#frames iframe')]"
        ".every(f => f.contentWindow.location.href.endsWith('dark=1')"
        " && f.contentDocument.readyState === 'complete')",
    )
    assert page.get_attribute("#dark-toggle", "aria-pressed") == "true"
    shoot(page, shots, "desk-dark")
    page.click("#dark-toggle")  # back to light for the rest

    # As a subscriber: typing part of the address suggests her; the whole of it shows her
    # version (her greeting, her one section).
    who = page.locator("#subscriber")
    who.fill("ann@")
    page.locator(f'#subscriber-hits option[value="{ANN}"]').wait_for(state="attached")
    with page.expect_navigation():
        who.fill(ANN)
    assert f"subscriber={ANN.replace('@', '%40')}" in page.url
    whose = page.inner_text("#whose")
    assert "Ann Lee" in whose and "Anime" in whose and "Hi Ann" in whose, whose
    for text in frames_text(page):
        assert "Hi Ann," in text and emailed("blue-orbit") in text
        assert emailed("moonfall") not in text  # Film is not one of her sections
    shoot(page, shots, "desk-as-subscriber")
    page.goto(stack.url(f"/admin/issues/{issue_id}"))  # everyone's version again

    # Reorder by drag and drop: the third review of "New this week" onto the first.
    before = live_order(stack, issue_id)
    rows = page.locator("ol[data-section=new] li.item")
    with page.expect_navigation():
        rows.nth(2).drag_to(rows.nth(0), target_position={"x": 40, "y": 5})
    assert live_order(stack, issue_id) == [before[2], before[0], before[1], *before[3:]]
    assert "Moved it to place 1." in flash(page)

    # Drop one: it leaves the section and is listed as dropped by an editor.
    dropped = title_of("night-shift")
    with page.expect_navigation():
        page.get_by_role("button", name=f"Drop: {dropped}").click()
    assert "Dropped it." in flash(page)
    assert dropped not in live_order(stack, issue_id)
    assert dropped in page.locator("ul.items.dropped").inner_text()
    for text in frames_text(page):
        assert dropped not in text

    # The intro: saved, and in both frames.
    intro = "Two films, an anime and a comic worth your evening."
    page.fill("#f-intro", intro)
    with page.expect_navigation():
        page.locator("#edit").get_by_role("button", name="Save").click()
    assert "Saved the intro." in flash(page)
    assert issues.show(stack.ctx, issue_id).intro == intro
    for text in frames_text(page):
        assert intro in text

    # A test copy, over SMTP to the capture server.
    page.fill("#f-to", PROOF)
    with page.expect_navigation():
        page.get_by_role("button", name="Send test copy").click()
    assert f"Test copy sent to {PROOF}." in flash(page)
    stack.wait_for(lambda: bool(stack.capture.to(PROOF)), "the test copy")
    (proof,) = stack.capture.to(PROOF)
    assert "[TEST]" in str(proof["Subject"])
    body = proof.get_body(("plain",))
    assert body is not None and intro in body.get_content()

    # Approve: recorded with the editor's name.
    with page.expect_navigation():
        page.get_by_role("button", name="Approve").click()
    assert f"Approved by {EDITOR}." in flash(page)
    assert issues.show(stack.ctx, issue_id).row.approved_by == EDITOR
    page.context.close()


# -- the operator -------------------------------------------------------------------------------
def count(page: Any, state: str) -> int:
    return int(page.inner_text(f'[data-count="{state}"]').replace(",", ""))


def wait_status(page: Any, status: str, seconds: float = 30) -> None:
    """Until the control room shows ``status`` (its script reloads the page on a change)."""
    until(page, f"() => document.getElementById('live')?.dataset.status === '{status}'", seconds)
    page.wait_for_load_state("load")


def click_through(stack: Stack) -> None:
    """One reader clicks "Read the review" under the top review in their copy (the redirect is
    not followed: the review site is not on this network), for the charts to have a bar."""
    (copy,) = stack.capture.to(READERS[0])
    html = copy.get_body(("html",))
    assert html is not None
    link = re.search(
        rf'<a\b[^>]*\bhref="({re.escape(stack.base)}/c/[^"]+)"[^>]*>\s*Read the review',
        html.get_content(),
    )
    assert link is not None

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(Stay)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(link.group(1).replace("&amp;", "&"), timeout=10)
    assert answer.value.code in (302, 303, 307)
    answer.value.close()


def test_the_operator_schedules_sends_steers_retries_and_reads_the_report(
    stack: Stack, issue_id: int, browser: Any, shots: Path
) -> None:
    stack.capture.deferred = {GREYLISTED}  # 451 at RCPT TO until removed
    stack.capture.delay = 0.4  # slow enough to pause: 32 messages take ~6 s on two workers
    page = log_in(browser, stack, OPERATOR)
    page.get_by_role("link", name=re.compile("^(Control room|Schedule or send)$")).first.click()
    page.wait_for_url(stack.url(f"/admin/issues/{issue_id}/control"))
    week = issues.show(stack.ctx, issue_id).row.week_key

    # Schedule for tomorrow 09:00 in the publication's zone (the picker's time is read there).
    zone = stack.settings.timezone
    tomorrow = (datetime.now(zone) + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    assert zone.key in page.inner_text("#send_at_zone")
    page.fill("#send_at", tomorrow.strftime("%Y-%m-%dT%H:%M"))
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^(re)?schedule$", re.IGNORECASE)).click()
    shown = f"{tomorrow:%Y-%m-%d 09:00} {tomorrow.tzname()}"
    assert f"Scheduled for {shown}" in flash(page)
    assert shown in page.inner_text(".room-head .when")
    row = issues.show(stack.ctx, issue_id).row
    assert row.status == "scheduled" and row.send_at == tomorrow.astimezone(UTC)

    # Send now (the week typed to confirm), then pause while it goes out.
    with page.expect_navigation():
        page.get_by_role("button", name="Send now…").click()
    shoot(page, shots, "confirm-send")
    page.fill("#confirm_week", week)
    with page.expect_navigation():
        page.get_by_role("button", name="Send to everyone now").click()
    assert "Sending started" in flash(page)
    wait_status(page, "sending", 5)
    shoot(page, shots, "control-sending")
    # Pause and resume: the room's own script may reload the page as the status changes, racing
    # the form's redirect (so its flashed message may not be seen): wait for the status instead.
    page.get_by_role("button", name="Pause").click()
    wait_status(page, "paused", 5)
    page.wait_for_timeout(2500)  # every worker stops within 2 s
    settled = len(stack.capture.messages)
    page.wait_for_timeout(1000)
    assert len(stack.capture.messages) == settled
    sent_when_paused = count(page, "sent")
    assert sent_when_paused < EVERYONE - 1, "the send finished before it could be paused"

    # Resume, and watch the numbers move on the page without a reload.
    stack.capture.delay = 0.3  # the rest takes a few seconds: a few updates to watch
    page.get_by_role("button", name="Resume").click()
    wait_status(page, "sending", 5)
    page.evaluate("window.__sameDocument = true")
    seen = {count(page, "sent")}
    deadline = time.monotonic() + 30
    while count(page, "sent") < EVERYONE - 1:  # everyone but the greylisted reader
        seen.add(count(page, "sent"))
        assert time.monotonic() < deadline, f"stuck at {seen}\n{stack.log_tails()}"
        page.wait_for_timeout(100)
    seen.add(count(page, "sent"))
    assert page.evaluate("window.__sameDocument === true")  # numbers came in, no reload
    assert len(seen) >= 3, seen  # and moved while watched
    assert "Updated at" in page.inner_text('[data-live="updated"]')

    # The greylisted reader's row waits for its retry. As if its backoffs had passed (5 min,
    # 10, 20...: too slow to wait for here), its last attempt is now due: the tick hands it to a
    # worker, which meets the 451 once more and gives up. That ends the send; the page reloads.
    stack.wait_for(
        lambda: count(page, "queued") == 1 and not stack.capture.to(GREYLISTED), "the deferral"
    )
    with transaction(stack.ctx.factory) as session:
        session.execute(
            update(Delivery)
            .where(
                Delivery.issue_id == issue_id,
                Delivery.subscriber_id == Subscriber.id,
                Subscriber.email == GREYLISTED,
                Delivery.state == DeliveryState.QUEUED,
            )
            .values(attempts=MAX_ATTEMPTS - 1, next_at=datetime.now(UTC))
        )
    stack.cli("tick")  # as cron runs it every minute: retries whose time has come
    wait_status(page, "sent")
    assert count(page, "failed") == 1 and count(page, "sent") == EVERYONE - 1
    failures = page.inner_text("table.failures")
    assert GREYLISTED in failures and "451" in failures and "retryable" in failures
    shoot(page, shots, "control-failed")

    # Retry failed: the capture server takes her now; the issue sends again until done.
    stack.capture.deferred = set()
    with page.expect_navigation():
        page.get_by_role("button", name="Retry failed…").click()
    shoot(page, shots, "confirm-retry")
    page.get_by_label(re.compile("failed temporarily")).check()
    # The room the POST leads to may reload at once (sending, then sent): read its first copy.
    with page.expect_response(
        lambda r: r.url.endswith("/control") and r.request.method == "GET"
    ) as room:
        page.get_by_role("button", name="Retry the ticked messages").click()
    assert "1 failed message(s) queued again." in room.value.text()
    stack.wait_for(lambda: bool(stack.capture.to(GREYLISTED)), "the retried message")
    wait_status(page, "sent")
    assert count(page, "sent") == EVERYONE and count(page, "failed") == 0
    assert "No message has failed." in page.inner_text(".area-failures")
    shoot(page, shots, "control-sent")
    # Each reader got the issue once (staff, at example.org, got the test copy, and maybe
    # mail from the tick's weekly job on the day of the review window).
    received = [rcpt for _, rcpts, _ in stack.capture.messages for rcpt in rcpts]
    readers = sorted(r for r in received if r.endswith("@example.com"))
    assert readers == sorted([ANN, GREYLISTED, *READERS])

    # The report: its two charts, drawn on the server (one click counted).
    click_through(stack)
    with page.expect_navigation():
        page.get_by_role("link", name="Report").first.click()
    assert page.url == stack.url(f"/admin/issues/{issue_id}/report")
    charts = page.locator("svg.chart")
    assert charts.count() == 2
    assert page.locator("#clicks-per-review-title").count() == 1
    assert page.locator("#clicks-per-hour-title").count() == 1
    top = reports.report(stack.ctx, issue_id).reviews[0]
    assert top.unique_clicks == 1, top
    assert f"1. {top.title}" in (charts.first.text_content() or "")
    shoot(page, shots, "report")
    page.context.close()

    # The public side: the issue is on the home page and in the archive.
    public = browser.new_page(viewport={"width": WIDTHS["desktop"], "height": HEIGHT})
    public.add_init_script(WATCH_POLICY)
    public.goto(stack.url("/"))
    shoot(public, shots, "home")
    public.goto(stack.url("/archive"))
    assert week in public.inner_text("main")
    shoot(public, shots, "archive")
    public.goto(stack.url(f"/archive/{week}"))
    assert emailed("moonfall") in public.content()
    shoot(public, shots, "archive-issue")
    public.close()
