"""The pre-flight check on real drafts, asking a real HTTPS server on loopback: a broken link,
an over-budget draft and a template that forgot alt text are found, each with a clear message;
a scheduled send is held until the draft is fixed, then goes out by itself."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose import render
from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.ingest.records import ReviewRecord
from newsletter.issues.schedule import schedule_send
from newsletter.jobs.tick import tick
from newsletter.mail.memory import MemoryTransport
from newsletter.models import Delivery, DeliveryState, Issue, IssueCheck, IssueStatus
from newsletter.preflight.dns import stub
from newsletter.preflight.findings import Finding, Report
from newsletter.preflight.run import Probes, check_issue
from newsletter.services import Context, Edits, issues, users
from tests.helpers.factories import NOW, inline_dispatcher, issue_with, review
from tests.helpers.https_server import Site, https_site

READERS = ["ana@example.com", "ben@example.com", "cy@example.com"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with https_site(tmp_path) as running:
        running.statuses["/broken/"] = 404
        yield running


@pytest.fixture
def settings(settings: Settings, site: Site) -> Settings:
    # The web app's links go to the site too, under /app: its POST answers 200 as the web
    # app's dry run does (test_one_click.py asks the real web app).
    return settings.with_overrides(base_url=f"{site.base}/app", review_hours=0)


@pytest.fixture
def probes(site: Site) -> Probes:
    return Probes(
        lookup=stub({}),  # DNS that has no records at all
        transport=httpx.HTTPTransport(verify=site.client_context()),
        spam=False,  # SpamAssassin's second or two, where a test is not about it
    )


def _on(site: Site, slug: str, category: str = "Film", days_ago: float = 1) -> ReviewRecord:
    record = review(slug, category, days_ago=days_ago)
    return replace(record, url=f"{site.base}/{slug}/", image_url=f"{site.base}/img/{slug}.jpg")


def _issue(factory: sessionmaker[Session], settings: Settings, site: Site) -> int:
    reviews = [_on(site, "good"), _on(site, "broken", "TV", 2), _on(site, "fine", "Anime", 3)]
    return issue_with(factory, settings, reviews, READERS)


def _about(report: Report, check: str) -> list[Finding]:
    return [f for f in report.findings if f.check == check]


def test_a_broken_link_is_an_error_that_names_it_and_its_fix(
    factory: sessionmaker[Session], settings: Settings, site: Site, probes: Probes
) -> None:
    site.no_head.add("/fine/")  # answers HEAD with 405 and GET with 200: not broken
    site.redirects["/img/good.jpg"] = f"{site.base}/img/good-large.jpg"
    issue_id = _issue(factory, settings, site)

    report = check_issue(factory, settings, issue_id, NOW, replace(probes, spam=True))

    assert not report.passed
    broken = [f for f in report.errors if f.check == "links"]
    assert [f.message for f in broken] == [f"link {site.base}/broken/ answered 404"]
    assert "drop that review on the desk" in broken[0].fix
    assert report.errors == broken  # nothing else is wrong with this draft
    notes = [f.message for f in _about(report, "links") if f.severity == "note"]
    assert f"image {site.base}/img/good.jpg redirects to {site.base}/img/good-large.jpg" in notes
    # 3 reviews and their images here, and the masthead link to the site (no DNS for it)
    assert "5 of 7 links and images answered" in notes
    assert any(f.message.startswith("one-click unsubscribe answers 200") for f in report.findings)
    assert next(p for p, _ in site.posts).startswith("/app/u/")
    # what the check asked is stored: the report, and the answers for the next check
    with factory() as session:
        stored = session.get(IssueCheck, issue_id)
        assert stored is not None and stored.errors == 1


def test_an_over_budget_draft_is_an_error(
    factory: sessionmaker[Session], settings: Settings, site: Site, probes: Probes
) -> None:
    site.statuses.clear()
    issue_id = _issue(factory, settings, site)
    with transaction(factory) as session:  # planted: far more than an editor may write
        session.execute(update(Issue).where(Issue.id == issue_id).values(intro="Long. " * 20000))

    report = check_issue(factory, settings, issue_id, NOW, probes)

    [size] = report.errors
    assert size.check == "size"
    assert "over the 95 KB budget" in size.message and "Gmail clips" in size.message
    assert "shorten the intro" in size.fix


def test_a_template_that_forgets_alt_text_is_an_error(
    factory: sessionmaker[Session],
    settings: Settings,
    site: Site,
    probes: Probes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A publication's own copy of the templates, whose card image lost its alt attribute.
    site.statuses.clear()
    custom = tmp_path / "templates"
    shutil.copytree(render.templates_dir(), custom)
    card = custom / "email" / "_card.html.j2"
    text = card.read_text()
    assert 'alt="' in text
    card.write_text(text.replace(' alt=""', "").replace(' alt="{{ card.title }}"', ""))
    monkeypatch.setattr(render, "templates_dir", lambda: custom)
    render.environments.cache_clear()
    try:
        issue_id = _issue(factory, settings, site)
        report = check_issue(factory, settings, issue_id, NOW, probes)
    finally:
        render.environments.cache_clear()

    alt = [f for f in report.errors if f.check == "alt"]
    assert alt and alt[0].message == f"an image has no alt text: {site.base}/img/good.jpg"
    assert 'alt=""' in alt[0].fix


def test_a_scheduled_send_waits_for_the_fix_then_goes_out(
    factory: sessionmaker[Session], settings: Settings, site: Site, probes: Probes
) -> None:
    issue_id = _issue(factory, settings, site)
    at = NOW + timedelta(hours=1)
    with transaction(factory) as session:
        schedule_send(session, issue_id, at, NOW)
    dispatcher, inbox = inline_dispatcher(factory, settings)
    staff = MemoryTransport()
    context = Context(settings, factory, clock=lambda: at + timedelta(minutes=2), probes=probes)
    users.add_user(context, "ed@reviews.example.com", "editor", None)

    held = tick(factory, settings, dispatcher, at, lambda: staff, probes=probes)
    assert held.held == [issue_id] and held.started == []
    assert f"issue {issue_id} held by the pre-flight check (1 error" in held.errors[0]
    assert _status(factory, issue_id) is IssueStatus.SCHEDULED and not inbox.sent
    # the staff are told, once, what holds it and where to fix it
    assert staff.recipients == ["ed@reviews.example.com"]
    told = message_from_bytes(staff.sent[0][1])
    assert str(told["Subject"]).startswith("[Reviews Weekly] Held by the pre-flight check: ")
    # the issues list, the control room and the API say what holds it
    assert [r.check_errors for r in issues.list_issues(context)] == [1]
    text = staff.sent[0][1].decode()
    assert f"{site.base}/broken/ answered 404" in text and f"/admin/issues/{issue_id}#check" in text

    # A minute later the same draft is not checked again (the report is a minute old), and
    # nobody is mailed again.
    posts = len(site.posts)
    again = tick(
        factory, settings, dispatcher, at + timedelta(minutes=1), lambda: staff, probes=probes
    )
    assert again.held == [issue_id] and len(site.posts) == posts
    assert len(staff.sent) == 1

    # An editor drops the broken review: the draft's new version is checked at once.
    issues.edit(context, issue_id, Edits(drops=(f"{site.base}/broken/",)))
    sent = tick(
        factory, settings, dispatcher, at + timedelta(minutes=2), lambda: staff, probes=probes
    )
    assert sent.started == [issue_id] and sent.held == []
    assert sorted(inbox.recipients) == READERS
    with factory() as session:
        done = session.scalar(
            select(func.count()).where(
                Delivery.issue_id == issue_id, Delivery.state == DeliveryState.SENT
            )
        )
    assert done == len(READERS)
    assert issues.last_check(context, issue_id) is not None
    assert len(staff.sent) == 1
    assert issues.show(context, issue_id).row.check_errors == 0  # the edited draft passed


@pytest.mark.parametrize(("mode", "checked"), [("warn", True), ("off", False)])
def test_warn_sends_anyway_and_off_does_not_check(
    factory: sessionmaker[Session],
    settings: Settings,
    site: Site,
    probes: Probes,
    mode: str,
    checked: bool,
) -> None:
    chosen = settings.with_overrides(preflight=mode)
    issue_id = _issue(factory, chosen, site)  # with its broken link
    at = NOW + timedelta(hours=1)
    with transaction(factory) as session:
        schedule_send(session, issue_id, at, NOW)
    dispatcher, inbox = inline_dispatcher(factory, chosen)

    report = tick(factory, chosen, dispatcher, at, probes=probes)

    assert report.started == [issue_id] and sorted(inbox.recipients) == READERS
    with factory() as session:
        assert (session.get(IssueCheck, issue_id) is not None) is checked


def _status(factory: sessionmaker[Session], issue_id: int) -> IssueStatus:
    with factory() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        return issue.status


def test_settings_that_make_no_message_are_the_finding(
    factory: sessionmaker[Session], settings: Settings, site: Site, probes: Probes
) -> None:
    issue_id = _issue(factory, settings, site)
    long_local = settings.with_overrides(unsubscribe_address="u" * 40 + "@reviews.example.com")

    report = check_issue(factory, long_local, issue_id, NOW, probes)

    [error] = report.findings
    assert error.check == "settings" and error.severity == "error"
    assert error.message.startswith("NEWSLETTER_UNSUBSCRIBE_ADDRESS")
