"""The issues list (``/admin/``) and "build this week's draft" through Flask's test client:
login, the columns of ``issue list`` with times in the publication's zone, the links each
status gets, the empty state, and the build button for editors too."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from newsletter.config import Settings
from newsletter.db import transaction
from newsletter.ingest.store import store_reviews
from newsletter.mail.memory import MemoryTransport
from newsletter.services import Context, issues
from tests.helpers.factories import NOW, issue_with, review, send_now
from tests.helpers.web import form_token, log_in


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The publication's zone is Tokyo (+09:00, no DST)."""
    return settings.with_overrides(publication_zone="Asia/Tokyo")


def rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_login_required(client: FlaskClient) -> None:
    answer = client.get("/admin/")
    assert answer.status_code == 303 and "/admin/login?next=/admin/" in answer.headers["Location"]
    assert client.post("/admin/issues/build").status_code == 400  # no CSRF token: refused first


def test_empty_state(client: FlaskClient, services: Context) -> None:
    log_in(client, services, "editor")
    page = client.get("/admin/").get_data(as_text=True)
    assert "No issues yet." in page and "<table" not in page
    assert "Build this week's draft" in page


def test_columns_links_and_zone_formatted_times(
    client: FlaskClient, services: Context, transport: MemoryTransport
) -> None:
    factory, settings = services.factory, services.settings
    sent_id = issue_with(
        factory, settings, [review("alpha", "Film")], ["a@example.com", "b@example.com"]
    )
    send_now(factory, settings, sent_id, transport)
    with transaction(factory) as session:  # a review of the next week
        store_reviews(session, [review("beta", "Games", days_ago=-3)], now=NOW)
    week = issues.build(services, week="2026-W49", now=NOW + timedelta(days=4))
    at = datetime(datetime.now(UTC).year + 1, 1, 8, 0, 30, tzinfo=UTC)
    issues.schedule(services, week.issue_id, at)
    log_in(client, services, "operator")
    page = client.get("/admin/").get_data(as_text=True)
    assert "Times are in Asia/Tokyo" in page
    newest, oldest = rows(page)
    assert "2026-W49" in newest and "badge-scheduled" in newest
    assert f"{at.year}-01-08 09:30 JST (+09:00)" in newest  # 00:30 UTC
    assert f"/admin/issues/{week.issue_id}/control" in newest
    assert "/report" not in newest
    assert "2026-W48" in oldest and "badge-sent" in oldest and ">Alpha<" in oldest
    assert re.search(r'data-label="Recipients">2<', oldest)
    assert re.search(r'data-label="Sent">2<', oldest)
    assert f"/admin/issues/{sent_id}/report" in oldest
    assert f"/admin/issues/{sent_id}/control" not in oldest  # nothing failed: nothing to steer
    assert f'href="/admin/issues/{sent_id}"' in oldest  # the desk


@pytest.mark.parametrize("role", ["editor", "operator"])
def test_build_this_weeks_draft(client: FlaskClient, services: Context, role: str) -> None:
    with transaction(services.factory) as session:
        store_reviews(session, [review("alpha", "Film")], now=NOW)
    services.clock = lambda: NOW  # the app's context: "this week" is NOW's
    log_in(client, services, role)
    token = form_token(client, "/admin/")
    answer = client.post("/admin/issues/build", data={"csrf_token": token})
    assert answer.status_code == 303
    built = issues.list_issues(services)
    assert len(built) == 1 and built[0].status == "draft"
    assert answer.headers["Location"].endswith(f"/admin/issues/{built[0].id}")
    again = client.post("/admin/issues/build", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303 and len(issues.list_issues(services)) == 1
    assert client.get("/admin/issues/build").status_code == 405
    # a draft is scheduled or sent from its control room: only operators get the link
    has_link = f"/admin/issues/{built[0].id}/control" in client.get("/admin/").get_data(
        as_text=True
    )
    assert has_link is (role == "operator")
