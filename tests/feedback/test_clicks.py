"""Click tracking and the open pixel: links rewritten once per variant, the redirect that only
goes where the issue itself links, one count per (delivery, link), and clicks into trending."""

from __future__ import annotations

import email
import html
import re
from datetime import timedelta
from email import policy
from email.message import EmailMessage

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.content import Branding
from newsletter.compose.personalize import Placeholders
from newsletter.compose.render import RenderedVariant
from newsletter.compose.tracking import track
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.feedback.clicks import record_click
from newsletter.ingest.urls import url_key
from newsletter.issues.build import build_issue
from newsletter.mail.memory import MemoryTransport
from newsletter.models import (
    DeliveryOpen,
    IssueItem,
    IssueLink,
    LinkClick,
    Review,
    ReviewMetric,
    Section,
)
from newsletter.tokens import Signer
from newsletter.web import create_app
from tests.helpers.factories import NOW, issue_with, review, send_now

BASE = "https://news.example.org"


# -- the pure rewrite --------------------------------------------------------------------------
def _variant() -> RenderedVariant:
    marks = Placeholders("0badcafe").marks
    body = (
        "<html><body>"
        '<a href="https://reviews.example.com/dune/?a=1&amp;b=2">Dune</a>'
        "<a class='x' href='http://reviews.example.com/alien/'>Alien</a>"
        f'<a href="{marks["unsubscribe_url"]}">Unsubscribe</a>'
        '<a href="mailto:editor@example.com">Write to us</a>'
        '<a href="javascript:alert(1)">no</a>'
        '<img src="https://cdn.example.com/dune.jpg">'
        "</body></html>"
    )
    text = (
        "Read the review: https://reviews.example.com/dune/?a=1&b=2\n"
        "(see https://reviews.example.com/alien/).\n"
        f"Unsubscribe: {marks['unsubscribe_url']}\n"
    )
    return RenderedVariant(0, "Subject", body, text, "0badcafe")


def test_track_rewrites_links_and_leaves_ours_alone() -> None:
    seen: list[str] = []

    def token(url: str) -> str:
        if url not in seen:
            seen.append(url)
        return f"L{seen.index(url) + 1}"

    out = track(_variant(), BASE, token)
    click = Placeholders("0badcafe").marks["click_token"]
    assert f'href="{BASE}/c/L1/{click}"' in out.html
    assert f"href='{BASE}/c/L2/{click}'" in out.html
    # the URL as the reader would go to it: entities decoded, http upgraded
    assert seen == [
        "https://reviews.example.com/dune/?a=1&b=2",
        "https://reviews.example.com/alien/",
    ]
    assert "__nl0badcafe_unsubscribe_url__" in out.html  # never through the redirect
    assert 'href="mailto:editor@example.com"' in out.html
    assert "javascript:" in out.html  # left as it was (the renderer never emits one)
    assert 'src="https://cdn.example.com/dune.jpg"' in out.html  # images are not links
    # the text part: same links, same tokens, punctuation after a URL kept outside it
    assert f"Read the review: {BASE}/c/L1/{click}\n" in out.text
    assert f"(see {BASE}/c/L2/{click})." in out.text
    assert "/o/" not in out.html


def test_the_open_pixel_only_when_asked() -> None:
    out = track(_variant(), BASE, lambda _url: None, pixel=True)
    click = Placeholders("0badcafe").marks["click_token"]
    assert re.search(
        rf'<img src="{BASE}/o/{click}" width="1" height="1" alt=""[^>]*></body>', out.html
    )
    assert "/c/" not in out.html  # None: no link tracked


def test_a_hostile_url_stays_an_attribute() -> None:
    variant = _variant()
    body = variant.html.replace("dune/?a=1", "dune/?q=&quot;&gt;&lt;script&gt;")
    seen: list[str] = []

    def token(url: str) -> str:
        seen.append(url)
        return "tok"

    out = track(RenderedVariant(0, "S", body, "", variant.nonce), BASE, token)
    assert seen[0] == 'https://reviews.example.com/dune/?q="><script>&b=2'  # registered as is
    assert "<script>" not in out.html  # but never written into the HTML


# -- through the web app -------------------------------------------------------------------------
def _send(
    factory: sessionmaker[Session], settings: Settings, emails: list[str]
) -> list[EmailMessage]:
    reviews = [review("dune", "Film"), review("alien", "Film")]
    issue_id = issue_with(factory, settings, reviews, emails)
    transport = MemoryTransport()
    send_now(factory, settings, issue_id, transport)
    out = []
    for _envelope, raw in transport.sent:
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        out.append(message)
    return out


def _links(message: EmailMessage) -> dict[str, str]:
    """Tracked link path -> the text it is on, from the HTML part."""
    part = message.get_body(("html",))
    assert part is not None
    found = re.findall(
        r'<a [^>]*href="https://news\.example\.org(/c/[^"]+)"[^>]*>(.*?)</a>',
        part.get_content(),
        re.S,
    )
    return {html.unescape(path): text for path, text in found}


def _clicks(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as session:
        rows = session.scalar(select(func.count()).select_from(LinkClick)) or 0
        metric = session.scalar(select(func.coalesce(func.sum(ReviewMetric.clicks), 0))) or 0
        return rows, metric


def test_a_click_redirects_to_the_review_and_counts_once(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    ann, bob = _send(factory, settings, ["ann@example.com", "bob@example.com"])
    links = _links(ann)
    dune = next(path for path, text in links.items() if "Read the review" in text)
    answer = client.get(dune)
    assert answer.status_code == 302
    target = answer.headers["Location"]
    assert target.startswith("https://reviews.example.com/")
    assert "Set-Cookie" not in answer.headers
    assert _clicks(factory) == (1, 1)
    # the same reader again (a double click, a second visit): still once
    assert client.get(dune).headers["Location"] == target
    assert _clicks(factory) == (1, 1)
    # the same link in another reader's message: same link token, their own recipient token
    link = dune.split("/")[2]
    bob_dune = next(p for p in _links(bob) if p.split("/")[2] == link)
    assert bob_dune != dune
    assert client.get(bob_dune).headers["Location"] == target
    assert _clicks(factory) == (2, 2)
    # the clicks went into the review's metrics of the day, which trending reads
    with factory() as session:
        day_clicks = session.scalar(
            select(ReviewMetric.clicks).where(ReviewMetric.url_key == url_key(target))
        )
    assert day_clicks == 2
    # the unsubscribe and preferences links are not tracked
    body = ann.get_body(("html",))
    assert body is not None
    assert re.search(r'href="https://news\.example\.org/u/', body.get_content())
    assert "/c/" not in str(ann["List-Unsubscribe"])


def test_text_part_links_are_tracked_too(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    (ann,) = _send(factory, settings, ["ann@example.com"])
    text = ann.get_body(("plain",))
    assert text is not None
    assert re.search(r"Read the review: https://news\.example\.org/c/\S+/\S+", text.get_content())
    assert "https://reviews.example.com/dune/" not in text.get_content()


def test_no_open_redirect_and_bad_tokens(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    (ann,) = _send(factory, settings, ["ann@example.com"])
    path = next(p for p, text in _links(ann).items() if "Read the review" in text)
    _c, link, recipient = path.strip("/").split("/")
    assert settings.secret_key
    signer = Signer(settings.secret_key.encode())
    forged = Signer(b"not the key").make("link", "1")
    for bad in (
        f"/c/{forged}/{recipient}",  # forged
        f"/c/{link[:-2]}xx/{recipient}",  # altered signature
        f"/c/{signer.make('click', '1.1')}/{recipient}",  # wrong purpose
        f"/c/{signer.make('link', '999')}/{recipient}",  # no such link
        f"/c/{link}/{recipient}?url=https://evil.example/",  # a URL in the request is ignored
    ):
        answer = client.get(bad)
        if bad.endswith("evil.example/"):
            assert answer.status_code == 302
            assert "evil" not in answer.headers["Location"]
        else:
            assert answer.status_code == 400, bad
            assert "Location" not in answer.headers
    assert _clicks(factory) == (1, 1)  # only the valid one (with the ignored query) counted
    # a bad recipient token still gets the reader there, counting nothing
    before = _clicks(factory)
    other_link = list(_links(ann))[-1].strip("/").split("/")[1]
    answer = client.get(f"/c/{other_link}/{recipient[:-3]}abc")
    assert answer.status_code == 302
    assert _clicks(factory) == before
    # a link checker's HEAD counts nothing
    assert client.head(f"/c/{other_link}/{recipient}").status_code == 302
    assert _clicks(factory) == before
    # a recipient token of another issue counts nothing on this issue's link
    answer = client.get(f"/c/{other_link}/{signer.make('click', '999.1')}")
    assert answer.status_code == 302
    assert _clicks(factory) == before


def test_links_are_registered_once_per_issue(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    _send(factory, settings, ["ann@example.com", "bob@example.com"])
    with factory() as session:
        urls = list(session.scalars(select(IssueLink.url)))
        with_review = session.scalar(
            select(func.count()).select_from(IssueLink).where(IssueLink.review_id.is_not(None))
        )
    assert len(urls) == len(set(urls))
    assert {"https://reviews.example.com/dune/", "https://reviews.example.com/alien/"} <= set(urls)
    assert with_review == 2


def test_tracking_can_be_turned_off(settings: Settings, factory: sessionmaker[Session]) -> None:
    off = settings.with_overrides(track_clicks=False)
    (ann,) = _send(factory, off, ["ann@example.com"])
    assert _links(ann) == {}
    body = ann.get_body(("html",))
    assert body is not None
    assert 'href="https://reviews.example.com/dune/"' in body.get_content()
    assert "/o/" not in body.get_content()  # the open pixel is off by default


def test_the_open_pixel_counts_the_first_open(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    on = settings.with_overrides(track_opens=True)
    (ann,) = _send(factory, on, ["ann@example.com"])
    body = ann.get_body(("html",))
    assert body is not None
    found = re.search(
        r'<img src="https://news\.example\.org(/o/[^"]+)" width="1"', body.get_content()
    )
    assert found
    client = create_app(on, factory=factory, transport=MemoryTransport()).test_client()
    for _ in range(3):
        answer = client.get(found.group(1))
        assert answer.status_code == 200
        assert answer.mimetype == "image/gif"
        assert answer.headers["Cache-Control"].startswith("no-store")
    assert client.get("/o/forged.token").status_code == 200  # a pixel never errors
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryOpen)) == 1


def test_branding_links_are_tracked_without_a_review(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    _send(factory, settings, ["ann@example.com"])
    site = Branding.from_settings(settings).site_url
    with factory() as session:
        row = session.scalar(select(IssueLink).where(IssueLink.url == site))
    assert row is not None and row.review_id is None


def test_view_online_shows_the_issue_as_the_reader_got_it(
    client: FlaskClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    (ann,) = _send(factory, settings, ["ann@example.com"])
    body = ann.get_body(("html",))
    assert body is not None
    found = re.search(r'href="https://news\.example\.org(/v/[^"]+)"', body.get_content())
    assert found
    answer = client.get(found.group(1))
    assert answer.status_code == 200
    assert answer.headers["X-Robots-Tag"] == "noindex"
    page = answer.get_data(as_text=True)
    assert "Dune" in page and "__nl" not in page
    assert page.count("https://news.example.org/c/") == len(re.findall("/c/", body.get_content()))
    assert "https://news.example.org/u/" in page  # their own unsubscribe link
    assert settings.secret_key
    signer = Signer(settings.secret_key.encode())
    with factory() as session:
        issue_id = session.scalar(select(IssueLink.issue_id))
    # a test copy's link (subscriber 0): the issue as everyone gets it
    assert client.get(f"/v/{signer.make('view', f'{issue_id}.0')}").status_code == 200
    assert client.get(f"/v/{signer.make('view', '999.1')}").status_code == 404
    assert client.get(f"/v/{signer.make('preferences', f'{issue_id}.1')}").status_code == 400
    assert client.get(f"/v/{Signer(b'forged').make('view', f'{issue_id}.1')}").status_code == 400


def test_clicks_make_a_review_trend_in_the_next_issue(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    """Both reviews are in this week's "New"; only one is clicked. Next week neither is new,
    and only the clicked one trends: its clicks are its trending score."""
    (ann,) = _send(factory, settings, ["ann@example.com"])
    links = _links(ann)
    path = next(p for p, text in links.items() if "Read the review" in text)
    _c, link, recipient = path.strip("/").split("/")
    assert settings.secret_key
    signer = Signer(settings.secret_key.encode())
    with transaction(factory) as session:
        target = record_click(session, signer, link, recipient, NOW, settings.timezone)
    assert target.counted
    clicked = target.url
    with transaction(factory) as session:
        built = build_issue(session, settings, now=NOW + timedelta(days=7))
    with factory() as session:
        trending = session.scalars(
            select(Review.url)
            .join(IssueItem, IssueItem.review_id == Review.id)
            .where(IssueItem.issue_id == built.issue_id, IssueItem.section == Section.TRENDING)
        ).all()
    assert trending == [clicked]


def test_text_links_end_where_the_html_says() -> None:
    """Prose punctuation next to a URL in the text part: the HTML href says where it ends."""
    urls = [
        "https://en.wikipedia.org/wiki/Heat_(1995_film)",
        "https://example.com/it's-here",
        "https://example.com/wow!",
    ]
    body = (
        "<html><body>"
        + "".join(f'<a href="{html.escape(u)}">x</a>' for u in urls)
        + "</body></html>"
    )
    text = (
        "(see https://en.wikipedia.org/wiki/Heat_(1995_film)).\n"
        "It's at https://example.com/it's-here, go.\n"
        "Say https://example.com/wow!!\n"
        "Not in the mail: https://other.example/x.\n"
    )
    seen: list[str] = []

    def token(url: str) -> str:
        seen.append(url)
        return f"L{len(seen)}"

    out = track(RenderedVariant(0, "S", body, text, "0badcafe"), BASE, token)
    click = Placeholders("0badcafe").marks["click_token"]
    assert seen == urls  # registered from the HTML, exactly
    assert f"(see {BASE}/c/L1/{click}).\n" in out.text
    assert f"It's at {BASE}/c/L2/{click}, go.\n" in out.text
    assert f"Say {BASE}/c/L3/{click}!\n" in out.text
    assert "Not in the mail: https://other.example/x.\n" in out.text  # not tracked
