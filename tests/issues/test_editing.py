"""Editors' edits of a draft and the 95 KB size guard (pure parts, then against the database)."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import date, timedelta
from email import policy

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.budget import HTML_BUDGET, fit, html_size
from newsletter.compose.content import IssueContent
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.errors import InputError
from newsletter.ingest.store import store_reviews
from newsletter.issues.build import build_issue
from newsletter.issues.content import load_content
from newsletter.issues.editing import Edits, edit_issue, header_text, intro_text, place
from newsletter.issues.proofs import send_test_copies
from newsletter.models import Delivery, Issue, IssueItem, IssueStatus, IssueVariant, Section
from tests.helpers.content import BRAND, card
from tests.helpers.factories import NOW, issue_with, review
from tests.helpers.smtp import Recorder

SITE = "https://reviews.example.com"


# -- pure parts -------------------------------------------------------------------------------
def test_place_moves_and_clamps() -> None:
    assert place([1, 2, 3, 4], 4, 1) == [4, 1, 2, 3]
    assert place([1, 2, 3, 4], 1, 3) == [2, 3, 1, 4]
    assert place([1, 2, 3], 1, 99) == [2, 3, 1]
    assert place([1, 2], 9, 1) == [9, 1, 2]  # a newcomer is inserted


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Hi\r\nBcc: victim@example.com", "a line break is not allowed"),
        ("Hi\nthere", "a line break is not allowed"),
        ("Tab\there", "control characters are not allowed"),
        ("x" * 201, "201 characters, at most 200"),
    ],
)
def test_header_text_refuses_what_could_break_a_header(value: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        header_text("subject", value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [("NUL\x00here", "control characters are not allowed"), ("x" * 5001, "at most 5000")],
)
def test_intro_text_refuses_control_characters_and_walls_of_text(value: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        intro_text(value)
    assert intro_text("  Two paragraphs.\n\n\tThe second.  ") == "Two paragraphs.\n\n\tThe second."


def test_header_text_folds_spaces_and_empty_means_automatic() -> None:
    assert header_text("subject", "  Five   picks ") == "Five picks"
    assert header_text("subject", "") is None


def _big(i: int, category: str) -> object:
    return card(i, category, tldr="Long-winded but honest. " * 150)  # ~3.6 KB of TL;DR


def test_fit_drops_trending_last_first_then_new_never_pinned() -> None:
    content = IssueContent(
        1, "2026-W48", None, None, "Hi.", date(2026, 11, 27),
        [card(i, "Film") for i in range(1, 4)], [card(i, "TV") for i in range(4, 7)],
    )  # fmt: skip
    sizes = {1: 10, 2: 10, 3: 10, 4: 10, 5: 10, 6: 10}

    def measure(c: IssueContent, _brand: object) -> int:
        return sum(sizes[x.review_id] for x in [*c.new, *c.trending])

    fitted = fit(content, BRAND, pinned={6}, budget=25, measure=measure)
    assert [c.review_id for c in fitted.dropped] == [5, 4, 3, 2]
    assert [c.review_id for c in fitted.content.new] == [1]
    assert [c.review_id for c in fitted.content.trending] == [6]
    assert fitted.size == 20
    untouched = fit(content, BRAND, budget=60, measure=measure)
    assert untouched.dropped == () and untouched.content == content


def test_fit_with_the_real_renderer_gets_under_95_kb() -> None:
    content = IssueContent(
        1, "2026-W48", None, None, "Hi.", date(2026, 11, 27),
        [card(i, "Film", tldr="Honest and long. " * 200) for i in range(1, 13)],
        [card(i, "TV", tldr="Honest and long. " * 200) for i in range(13, 18)],
    )  # fmt: skip
    assert html_size(content, BRAND) > HTML_BUDGET
    fitted = fit(content, BRAND)
    assert fitted.size <= HTML_BUDGET
    assert fitted.dropped[0].review_id == 17  # trending goes first, last first
    assert html_size(fitted.content, BRAND) == fitted.size


# -- against the database ---------------------------------------------------------------------
@pytest.fixture
def draft(factory: sessionmaker[Session], settings: Settings) -> int:
    reviews = [review(f"new-{i}", "Film", days_ago=i) for i in range(1, 4)]
    reviews.append(review("old-gem", "Anime", days_ago=40))
    return issue_with(factory, settings, reviews, ["a@example.com"])


def _sections(factory: sessionmaker[Session], issue_id: int) -> dict[str, list[str]]:
    with factory() as session:
        content = load_content(session, issue_id, Settings().timezone)
    return {
        "new": [c.url.rsplit("/", 2)[1] for c in content.new],
        "trending": [c.url.rsplit("/", 2)[1] for c in content.trending],
    }


def test_pin_drop_move_and_recompose(
    factory: sessionmaker[Session], settings: Settings, draft: int
) -> None:
    assert _sections(factory, draft) == {"new": ["new-1", "new-2", "new-3"], "trending": []}
    with transaction(factory) as session:
        session.add(
            IssueVariant(
                issue_id=draft, mask=0, version=1, html="x", text="x", nonce="n", subject="s"
            )
        )
    edits = Edits(
        subject="Picked by hand",
        pins=(f"{SITE}/old-gem/",),
        drops=(f"{SITE}/new-2/",),
        moves=((f"{SITE}/new-3/", 1),),
    )
    with transaction(factory) as session:
        result = edit_issue(session, settings, draft, edits, NOW)
    assert (result.version, result.new, result.trending) == (2, 2, 1)
    assert _sections(factory, draft) == {"new": ["new-3", "new-1"], "trending": ["old-gem"]}
    with factory() as session:
        issue = session.get(Issue, draft)
        assert issue is not None and issue.subject == "Picked by hand"
        assert session.scalars(select(IssueVariant)).all() == []  # re-composed on send
        pinned = {i.review.url for i in issue.items if i.pinned}
    assert pinned == {f"{SITE}/old-gem/", f"{SITE}/new-3/"}


@pytest.mark.parametrize(
    ("edits", "reason"),
    [
        (Edits(drops=(f"{SITE}/old-gem/",)), "not in issue"),
        (Edits(moves=((f"{SITE}/old-gem/", 1),)), "pin it first"),
        (Edits(pins=(f"{SITE}/never-seen/",)), "no stored review at that URL"),
        (Edits(pins=("javascript:alert(1)",)), "not an http"),
        (Edits(preheader="a\r\nb"), "preheader: a line break"),
        (Edits(moves=((f"{SITE}/old-gem/", 0),)), "position 0: 1 is the first place"),
    ],
)
def test_bad_edits_change_nothing(
    factory: sessionmaker[Session], settings: Settings, draft: int, edits: Edits, reason: str
) -> None:
    with pytest.raises(InputError, match=reason), transaction(factory) as session:
        edit_issue(session, settings, draft, edits, NOW)
    with factory() as session:
        issue = session.get(Issue, draft)
        assert issue is not None and issue.version == 1


def test_only_a_draft_can_be_edited(
    factory: sessionmaker[Session], settings: Settings, draft: int
) -> None:
    with transaction(factory) as session:
        issue = session.get(Issue, draft)
        assert issue is not None
        issue.status = IssueStatus.SENT
    with pytest.raises(InputError, match="is sent: only a draft"), transaction(factory) as s:
        edit_issue(s, settings, draft, Edits(intro="late"), NOW)


def test_build_trims_an_oversized_week_and_says_which(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    wordy = [
        replace(review(f"wordy-{i}", "Film", days_ago=1 + i / 10), tldr="So much to say. " * 340)
        for i in range(12)
    ]
    with transaction(factory) as session:
        store_reviews(session, wordy, now=NOW - timedelta(hours=1))
        result = build_issue(session, settings, now=NOW)
    assert result.trimmed  # some new reviews had to go: nothing was trending
    assert result.size <= HTML_BUDGET
    assert result.new == 12 - len(result.trimmed)
    with factory() as session:
        dropped = session.scalars(
            select(IssueItem).where(IssueItem.dropped.is_(True), IssueItem.section == Section.NEW)
        ).all()
    assert len(dropped) == len(result.trimmed)


def test_test_copies_go_through_real_smtp_and_change_nothing(
    factory: sessionmaker[Session],
    settings: Settings,
    draft: int,
    smtp_server: tuple[Recorder, int],
) -> None:
    recorder, port = smtp_server
    over_smtp = settings.with_overrides(smtp_url=f"smtp://127.0.0.1:{port}")
    with factory() as session:
        copies = send_test_copies(
            session, over_smtp, draft, ["Editor@Example.com", "busy@example.com"]
        )
    assert [(c.address, c.error) for c in copies] == [
        ("editor@example.com", None),
        ("busy@example.com", "RCPT TO busy@example.com: 451 4.3.0 try again later"),
    ]
    (mail_from, rcpts, raw) = recorder.messages[0]
    message = email.message_from_bytes(raw, policy=policy.default)
    assert (mail_from, rcpts) == (settings.sender_email, ["editor@example.com"])
    assert str(message["Subject"]).startswith("[TEST] ")
    assert message["Message-ID"] == copies[0].message_id
    assert message["Message-ID"].startswith(f"<nl-test.2026-W48.{draft}.")
    with factory() as session:
        issue = session.get(Issue, draft)
        assert issue is not None and issue.status == IssueStatus.DRAFT
        assert session.scalars(select(Delivery)).all() == []
