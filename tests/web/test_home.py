"""The home page and the branding of the subscriber pages: the sign-up form (posting to the
one /subscribe handler, with its CSRF token and its refusals naming the field), the archive
and the site linked, the publication's name, accent and logo on every page."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from newsletter.config import Settings
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.sections import mask_of
from newsletter.services import Context
from newsletter.services import archive as public_archive
from newsletter.web import create_app
from tests.helpers.browser import screenshot
from tests.helpers.env import free_port
from tests.helpers.factories import issue_with, review, send_now
from tests.helpers.web import TOKEN, settle, submit


def test_the_home_page_offers_the_sign_up_form_and_links_the_archive(
    client: FlaskClient, settings: Settings
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Reviews Weekly</h1>" in html
    assert TOKEN.search(html), "no CSRF token in the form"
    assert '<form method="post" action="/subscribe">' in html
    assert 'name="categories" value="Film"' in html
    assert 'href="/archive"' in html and f'href="{settings.site_url}"' in html
    assert "noindex" not in html  # the public front may be found


def test_signing_up_from_the_home_page(
    client: FlaskClient, factory: sessionmaker[Session], transport: MemoryTransport
) -> None:
    fields = {"email": "hal@example.com", "name": "Hal", "categories": ["Film", "Anime"]}
    answer = submit(client, "/subscribe", fields, page="/")
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    assert transport.recipients == ["hal@example.com"]
    with factory() as session:
        row = session.scalar(select(Subscriber).where(Subscriber.email_key == "hal@example.com"))
        assert row is not None and row.status is SubscriberStatus.PENDING


def test_the_home_form_is_refused_without_its_token_and_bad_fields_are_named(
    client: FlaskClient, transport: MemoryTransport
) -> None:
    client.get("/")
    forged = client.post("/subscribe", data={"email": "ida@example.com"})
    assert forged.status_code == 400 and b"This form has expired" in forged.data
    bad = submit(client, "/subscribe", {"email": "not an address"}, page="/")
    assert bad.status_code == 400 and b"invalid email" in bad.data
    assert b'value="not an address"' in bad.data  # what was typed stays in the form
    unknown = submit(
        client, "/subscribe", {"email": "ida@example.com", "categories": "Opera"}, page="/"
    )
    assert unknown.status_code == 400 and b"unknown category" in unknown.data
    settle(client)
    assert transport.recipients == []


def test_the_home_page_lists_the_latest_issues(
    client: FlaskClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    assert b"Latest issues" not in client.get("/").data
    issue_id = issue_with(factory, settings, [review("dune", "Film")], ["ann@example.com"])
    send_now(factory, settings, issue_id, MemoryTransport())
    html = client.get("/").get_data(as_text=True)
    assert "Latest issues" in html
    week = re.search(r'href="/archive/(\d{4}-W\d\d)"', html)
    assert week is not None and client.get(f"/archive/{week.group(1)}").status_code == 200


def brand_of(html: str) -> dict[str, str]:
    return dict(re.findall(r"--(a|on|ln):(#[0-9a-f]{6})", html))


@pytest.mark.parametrize("path", ["/", "/subscribe", "/archive", "/archive/2026-W01"])
def test_every_public_page_carries_the_publication(
    client: FlaskClient, settings: Settings, path: str
) -> None:
    html = client.get(path).get_data(as_text=True)
    assert f'<a class="brand" href="{settings.site_url}">Reviews Weekly</a>' in html
    assert settings.postal_address in html
    assert 'href="/">Home</a>' in html and 'href="/archive">Archive</a>' in html
    assert brand_of(html) == {"a": "#c2255c", "on": "#ffffff", "ln": "#c2255c"}


def test_a_light_accent_gets_dark_text_and_the_logo_shows(services: Context) -> None:
    bright = services.settings.with_overrides(
        accent_color="#FFD43B", logo_url="https://cdn.example.com/logo.png"
    )
    brand = public_archive.branding(Context(bright, services.factory))
    assert (brand.accent, brand.on_accent, brand.link) == ("#ffd43b", "#111111", "#111111")
    app = create_app(bright, context=Context(bright, services.factory))
    with app.test_client() as client:
        page = client.get("/subscribe")
    html = page.get_data(as_text=True)
    assert brand_of(html) == {"a": "#ffd43b", "on": "#111111", "ln": "#111111"}
    assert '<img src="https://cdn.example.com/logo.png" alt="Reviews Weekly">' in html
    # the page's policy lets the logo's origin in, and keeps the rest as the guards set it
    policy = page.headers["Content-Security-Policy"]
    assert "img-src 'self' https://cdn.example.com;" in policy
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in html


@pytest.fixture
def served(services: Context, transport: MemoryTransport) -> Iterator[tuple[str, Context]]:
    """The app on a loopback port, in a thread; its base URL is where it is served."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    linked = services.settings.with_overrides(base_url=base)
    context = Context(linked, services.factory, transport_factory=lambda: transport)
    server = make_server("127.0.0.1", port, create_app(linked, context=context), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, context
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


WATCH_POLICY = """
window.__blocked = [];
document.addEventListener("securitypolicyviolation",
    e => window.__blocked.push(e.violatedDirective + " " + e.blockedURI));
"""


def test_the_public_pages_in_a_browser(served: tuple[str, Context], browser: Any) -> None:
    """Home, sign-up, archive and an archive copy in Chromium at desktop and phone width:
    nothing blocked by the policy, nothing wider than the screen, the home form signs up and
    the archive leads to the issue. Screenshots in .test-artifacts/."""
    base, context = served
    issue_id = issue_with(
        context.factory, context.settings, [review("dune", "Film")], ["a@example.com"]
    )
    send_now(context.factory, context.settings, issue_id, MemoryTransport())
    for width in (1280, 375):
        page = browser.new_context(viewport={"width": width, "height": 800}).new_page()
        page.add_init_script(WATCH_POLICY)

        def look(name: str, page: Any = page, width: int = width) -> None:
            page.wait_for_load_state()
            assert page.evaluate("window.__blocked") == [], name
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name
            screenshot(page, f"public-{name}-{width}.png")

        page.goto(f"{base}/")
        look("home")
        page.get_by_role("link", name="Browse the archive").click()
        look("archive")
        page.get_by_role("link", name=re.compile("Dune")).click()
        look("archive-issue")
        assert page.get_by_role("link", name=re.compile("Read the review")).count() == 1
        page.get_by_role("link", name="Get it by email").click()
        page.get_by_label("Email address").fill(f"w{width}@example.com")
        page.get_by_label("Anime").check()
        page.get_by_role("button", name="Subscribe").click()
        look("subscribed")
        assert "Check your inbox" in page.content()
        page.context.close()
    with context.factory() as session:
        rows = session.scalars(select(Subscriber).order_by(Subscriber.email)).all()
        assert [(r.email, r.status) for r in rows] == [
            ("a@example.com", SubscriberStatus.CONFIRMED),
            ("w1280@example.com", SubscriberStatus.PENDING),
            ("w375@example.com", SubscriberStatus.PENDING),
        ]
        assert [r.category_mask for r in rows[1:]] == [mask_of(["Anime"])] * 2
