"""The public archive: only issues that went out, newest first, each readable by anyone with
none of a subscriber's links (click redirects, open pixel, unsubscribe, preferences, view
online), name or address; a week not in the archive is a 404 page."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.ingest.store import store_reviews
from newsletter.issues.build import build_issue
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Issue, IssueStatus, Subscriber
from newsletter.services import Context
from newsletter.services import archive as public_archive
from newsletter.tokens import Signer
from newsletter.web.guards import COPY_POLICY
from tests.helpers.factories import NOW, review, send_now, subscriber

PEOPLE = {"zelda.q@example.com": ("Zelda Quartermaine", []), "omar@example.com": ("Omar", ["Film"])}
# The per-recipient URL shapes of newsletter.web.public and newsletter.web.tracking.
PERSONAL = re.compile(r"/(?:c|o|u|p|v|confirm)/[\w.-]+")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Tracked clicks and the open pixel on: the mail has them, the archive must not."""
    return settings.with_overrides(track_clicks=True, track_opens=True)


def build(
    factory: sessionmaker[Session], settings: Settings, week: str, *, again: bool = False
) -> int:
    with transaction(factory) as session:
        return build_issue(session, settings, now=NOW, week=week, again=again).issue_id


def set_status(factory: sessionmaker[Session], issue_id: int, status: IssueStatus) -> None:
    with transaction(factory) as session:
        session.execute(update(Issue).where(Issue.id == issue_id).values(status=status))


@pytest.fixture
def weeks(
    factory: sessionmaker[Session], settings: Settings
) -> tuple[dict[str, int], MemoryTransport]:
    """W47 sent; W48 cancelled, rebuilt and sent (after W47); W46 a draft, W45 scheduled,
    W44 cancelled.
    Returns the ids by name and the transport the sent mail went to."""
    with transaction(factory) as session:
        store_reviews(
            session,
            [
                review("akira", "Anime", days_ago=29),  # 2026-W44
                review("alien", "Film", days_ago=22),  # 2026-W45
                review("brazil", "Film", days_ago=15),  # 2026-W46
                review("clue", "Film", days_ago=8),  # 2026-W47
                review("dune", "Film", days_ago=1),  # 2026-W48
                review("frieren", "Anime", days_ago=2),  # 2026-W48, not in Omar's picks
            ],
            now=NOW,
        )
        for address, (name, picks) in PEOPLE.items():
            subscriber(session, address, name=name, picks=picks)
    transport = MemoryTransport()
    ids = {"gone": build(factory, settings, "2026-W44")}
    set_status(factory, ids["gone"], IssueStatus.CANCELLED)  # cancelled, never rebuilt
    ids["scheduled"] = build(factory, settings, "2026-W45")
    set_status(factory, ids["scheduled"], IssueStatus.SCHEDULED)
    ids["draft"] = build(factory, settings, "2026-W46")
    ids["older"] = build(factory, settings, "2026-W47")
    send_now(factory, settings, ids["older"], transport)
    ids["cancelled"] = build(factory, settings, "2026-W48")
    set_status(factory, ids["cancelled"], IssueStatus.CANCELLED)
    ids["newest"] = build(factory, settings, "2026-W48", again=True)
    with transaction(factory) as session:
        session.execute(
            update(Issue).where(Issue.id == ids["newest"]).values(subject="Dune, at last")
        )
    send_now(factory, settings, ids["newest"], transport)
    return ids, transport


def test_the_archive_lists_sent_issues_newest_first(
    weeks: tuple[dict[str, int], MemoryTransport], services: Context, client: FlaskClient
) -> None:
    ids, _ = weeks
    entries = public_archive.list_archive(services)
    assert [(e.issue_id, e.week_key) for e in entries] == [
        (ids["newest"], "2026-W48"),
        (ids["older"], "2026-W47"),
    ]
    assert entries[0].subject == "Dune, at last"  # the editor's
    assert entries[1].subject.startswith("Clue")  # the automatic one
    assert entries[0].sent_at.tzinfo is not None
    assert [e.week_key for e in public_archive.list_archive(services, limit=1)] == ["2026-W48"]

    page = client.get("/archive")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    links = re.findall(r'href="/archive/([^"]+)"', html)
    assert links == ["2026-W48", "2026-W47"]  # no draft, scheduled or cancelled week
    assert "Dune, at last" in html
    # the date sent, in the publication's zone, with its offset in the title
    assert re.search(r'title="\d{4}-\d\d-\d\d \d\d:\d\d \w+ \([+-]\d\d:\d\d\)"', html)


def test_an_issue_being_retried_stays_in_the_archive(
    weeks: tuple[dict[str, int], MemoryTransport], services: Context, client: FlaskClient
) -> None:
    ids, _ = weeks
    set_status(services.factory, ids["newest"], IssueStatus.SENDING)  # reopened for a retry
    assert [e.issue_id for e in public_archive.list_archive(services)] == [
        ids["newest"],
        ids["older"],
    ]
    assert client.get("/archive/2026-W48").status_code == 200


def test_an_archive_copy_has_every_section_and_nothing_personal(
    weeks: tuple[dict[str, int], MemoryTransport],
    services: Context,
    settings: Settings,
    client: FlaskClient,
) -> None:
    ids, transport = weeks
    signer = Signer(services.secret)
    answer = client.get("/archive/2026-W48")
    assert answer.status_code == 200
    assert answer.headers["Content-Security-Policy"] == COPY_POLICY
    copy = answer.get_data(as_text=True)

    # the mail itself was tracked and personal: the copy is the same issue without that
    mails = [email.message_from_bytes(raw, policy=policy.default) for _, raw in transport.sent]
    sent = [m.get_body(("html",)).get_content() for m in mails if "Dune" in m["Subject"]]  # type: ignore[union-attr]
    assert sent and all(f"{settings.base_url}/c/" in html for html in sent)
    assert all(f"{settings.base_url}/o/" in html for html in sent)

    assert "Dune, at last" in copy
    for slug in ("dune", "frieren"):  # every section: Omar's Film-only variant is not it
        assert f'href="https://reviews.example.com/{slug}/"' in copy
    assert "clue" not in copy  # another week's review
    assert settings.base_url not in copy  # no link back into the app but relative ones
    assert PERSONAL.search(copy) is None, PERSONAL.search(copy)
    assert "__nl" not in copy  # no placeholder left
    assert "Hi there," in copy
    assert 'href="/"' in copy and 'href="/archive"' in copy
    with services.factory() as session:
        people = session.query(Subscriber).all()
    assert len(people) == 2
    for person in people:
        assert person.email not in copy
        assert (person.name or "").split()[0] not in copy
        subject = str(person.id)
        tokens = [
            signer.make("unsubscribe", subject),
            signer.make("preferences", subject),
            signer.make("view", f"{ids['newest']}.{subject}"),
            signer.make("click", f"{ids['newest']}.{subject}"),
        ]
        assert not [t for t in tokens if t in copy]


@pytest.mark.parametrize(
    "week", ["2026-W46", "2026-W45", "2026-W44", "2026-W01", "not-a-week", "2026-W4"]
)
def test_a_week_not_in_the_archive_is_a_404_page(
    weeks: tuple[dict[str, int], MemoryTransport], client: FlaskClient, week: str
) -> None:
    answer = client.get(f"/archive/{week}")
    assert answer.status_code == 404
    html = answer.get_data(as_text=True)
    assert "No such issue" in html and '<a href="/archive">See every issue</a>' in html
    assert "unsafe-inline" not in answer.headers["Content-Security-Policy"]


def test_an_empty_archive_says_so(client: FlaskClient) -> None:
    page = client.get("/archive")
    assert page.status_code == 200
    assert b"No issue has gone out yet" in page.data
