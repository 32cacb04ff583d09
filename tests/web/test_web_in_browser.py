"""``newsletter serve`` as a real process, driven by Debian's Chromium: sign up, get the
confirmation from a real SMTP server (aiosmtpd), confirm, then unsubscribe with the button.
Screenshots of each page land in ``.test-artifacts/``."""

from __future__ import annotations

import email
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from email import policy
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.mail.memory import MemoryTransport
from newsletter.models import LinkClick, ReviewMetric, Subscriber, SubscriberStatus
from newsletter.tokens import Signer
from tests.helpers.browser import screenshot
from tests.helpers.env import clean_environ, free_port
from tests.helpers.factories import issue_with, review, send_now
from tests.helpers.smtp import Recorder


@pytest.fixture
def served(
    settings: Settings, engine: Engine, smtp_server: tuple[Recorder, int]
) -> Iterator[tuple[str, Recorder]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    served = settings.with_overrides(base_url=base, smtp_url=f"smtp://127.0.0.1:{smtp_server[1]}")
    env = clean_environ(**served.as_environ())
    command = [sys.executable, "-m", "newsletter", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/subscribe", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"serve exited: {process.stdout.read() if process.stdout else ''}")
                time.sleep(0.1)
        yield base, smtp_server[0]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def status_of(factory: sessionmaker[Session], address: str) -> SubscriberStatus:
    with factory() as session:
        row = session.scalar(select(Subscriber).where(Subscriber.email_key == address))
        assert row is not None
        return row.status


def test_sign_up_confirm_and_unsubscribe_in_a_browser(
    served: tuple[str, Recorder],
    browser: Any,
    factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    base, smtp = served
    page = browser.new_page(viewport={"width": 420, "height": 900})
    page.goto(f"{base}/subscribe")
    page.get_by_label("Email address").fill("zoe@example.com")
    page.get_by_label("First name").fill("Zoë")
    page.get_by_label("Anime").check()
    screenshot(page, "web-subscribe.png")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_load_state()
    assert "Check your inbox" in page.content()
    for _ in range(50):
        if smtp.messages:
            break
        time.sleep(0.1)
    (_, rcpts, raw), *_ = smtp.messages
    assert rcpts == ["zoe@example.com"]
    text = email.message_from_bytes(raw, policy=policy.default).get_body(("plain",))
    assert text is not None
    link = re.search(rf"{re.escape(base)}/confirm/\S+", text.get_content())
    assert link is not None
    assert status_of(factory, "zoe@example.com") is SubscriberStatus.PENDING

    page.goto(link.group(0))
    assert status_of(factory, "zoe@example.com") is SubscriberStatus.PENDING  # GET: nothing
    screenshot(page, "web-confirm.png")
    page.get_by_role("button", name="Confirm my subscription").click()
    page.wait_for_load_state()
    assert "You are subscribed" in page.content()
    assert status_of(factory, "zoe@example.com") is SubscriberStatus.CONFIRMED

    with factory() as session:
        zoe = session.scalar(select(Subscriber).where(Subscriber.email_key == "zoe@example.com"))
        assert zoe is not None
        token = Signer((settings.secret_key or "").encode()).make("unsubscribe", str(zoe.id))
    page.goto(f"{base}/u/{token}")
    screenshot(page, "web-unsubscribe.png")
    assert status_of(factory, "zoe@example.com") is SubscriberStatus.CONFIRMED
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    assert "You are unsubscribed" in page.content()
    assert status_of(factory, "zoe@example.com") is SubscriberStatus.UNSUBSCRIBED
    # the phone-width pages fit without sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    page.close()


def test_a_reader_clicks_a_review_in_the_mail(
    served: tuple[str, Recorder],
    browser: Any,
    factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    """The digest's HTML in Chromium: its "Read the review" button goes through the served
    click redirect to the review (stubbed: no internet here), and the click is counted."""
    base, _smtp = served
    linked = settings.with_overrides(base_url=base)
    issue_id = issue_with(factory, linked, [review("dune", "Film")], ["ann@example.com"])
    transport = MemoryTransport()
    send_now(factory, linked, issue_id, transport)
    message = email.message_from_bytes(transport.sent[0][1], policy=policy.default)
    body = message.get_body(("html",))
    assert body is not None
    page = browser.new_page(viewport={"width": 640, "height": 900})
    landed: list[str] = []

    def review_site(route: Any) -> None:
        landed.append(route.request.url)
        route.fulfill(body="<h1>Dune: the review</h1>", content_type="text/html")

    page.route("https://reviews.example.com/**", review_site)
    page.set_content(body.get_content())
    page.get_by_role("link", name=re.compile("Read the review")).first.click()
    page.wait_for_url("https://reviews.example.com/**")
    assert "Dune: the review" in page.content()
    assert landed == ["https://reviews.example.com/dune/"]
    page.set_content(body.get_content())  # the reader opens the mail again and clicks again
    page.get_by_role("link", name=re.compile("Read the review")).first.click()
    page.wait_for_url("https://reviews.example.com/**")
    # "View online", served: the same issue, for this reader, in the browser
    view = re.search(rf'href="({re.escape(base)}/v/[^"]+)"', body.get_content())
    assert view is not None
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto(view.group(1))
    assert page.get_by_role("link", name=re.compile("Read the review")).count() >= 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    screenshot(page, "web-view-online.png", full_page=False)
    page.close()
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(LinkClick)) == 1  # once
        assert session.scalar(select(func.sum(ReviewMetric.clicks))) == 1


WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
WATCH_POLICY = """
window.__blocked = [];
document.addEventListener("securitypolicyviolation",
    e => window.__blocked.push(e.violatedDirective + " " + e.blockedURI));
"""


def test_every_page_renders_under_its_security_policy(
    served: tuple[str, Recorder],
    browser: Any,
    factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    """Each page, at desktop and phone width: its style applies (nothing blocked by the
    Content-Security-Policy), it fits the width, and its forms still post (their CSRF token
    and cookie, under Referrer-Policy: no-referrer). Screenshots in .test-artifacts/."""
    base, _smtp = served
    linked = settings.with_overrides(base_url=base)
    issue_id = issue_with(factory, linked, [review("dune", "Film")], ["ivy@example.com"])
    transport = MemoryTransport()
    send_now(factory, linked, issue_id, transport)
    html = email.message_from_bytes(transport.sent[0][1], policy=policy.default)
    body = html.get_body(("html",))
    assert body is not None
    view = re.search(rf'href="({re.escape(base)}/v/[^"]+)"', body.get_content())
    assert view is not None
    with factory() as session:
        ivy = session.scalar(select(Subscriber).where(Subscriber.email_key == "ivy@example.com"))
        assert ivy is not None
        signer = Signer((settings.secret_key or "").encode())
        prefs = f"{base}/p/{signer.make('preferences', str(ivy.id))}"
        leave = f"{base}/u/{signer.make('unsubscribe', str(ivy.id))}"
    for width, (w, h) in WIDTHS.items():
        context = browser.new_context(viewport={"width": w, "height": h})
        context.add_init_script(WATCH_POLICY)
        page = context.new_page()
        complaints: list[str] = []
        page.on(
            "console",
            lambda m, seen=complaints: (
                seen.append(m.text) if "Content Security" in m.text else None
            ),
        )

        def look(name: str, *, ours: bool = True, page: Any = page, width: str = width) -> None:
            page.wait_for_load_state()
            assert page.evaluate("window.__blocked") == [], name
            assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width][0]
            if ours:  # the page's own <style> applied: the button is dark, the text column narrow
                column = page.evaluate("getComputedStyle(document.body).maxWidth")
                assert column != "none", name
            screenshot(page, f"web-{name}-{width}.png")

        page.goto(f"{base}/subscribe")
        look("subscribe")
        page.get_by_label("Email address").fill(f"{width}@example.com")
        page.get_by_role("button", name="Subscribe").click()
        look("subscribed")
        assert "Check your inbox" in page.content()
        page.goto(prefs)
        look("preferences")
        page.get_by_label("First name").fill("Ivy")
        page.get_by_role("button", name="Save").click()
        look("preferences-saved")
        assert "Saved" in page.content()
        page.goto(f"{base}/confirm/forged.token")
        look("bad-link")
        page.goto(view.group(1))
        look("view-online", ours=False)
        assert page.get_by_role("link", name=re.compile("Read the review")).count() >= 1
        page.goto(leave)
        look("unsubscribe")
        page.get_by_role("button", name="Unsubscribe").click()
        look("unsubscribed")
        assert "You are unsubscribed" in page.content()
        assert [text for text in complaints if "Content Security" in text] == []
        context.close()
    with factory() as session:
        ivy = session.scalar(select(Subscriber).where(Subscriber.email_key == "ivy@example.com"))
        assert ivy is not None and ivy.name == "Ivy"
        assert ivy.status is SubscriberStatus.UNSUBSCRIBED
