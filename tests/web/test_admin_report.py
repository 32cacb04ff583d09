"""The report page and its CSV through Flask's test client on a real database (login, roles,
404/405, figures, charts that are valid XML with hostile titles escaped, the CSV download),
and the chart functions on their own."""

from __future__ import annotations

import csv
import io
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from newsletter.config import Settings
from newsletter.mail.memory import MemoryTransport
from newsletter.services import Context, users
from newsletter.web import charts, create_app
from tests.helpers.browser import screenshot
from tests.helpers.env import free_port
from tests.helpers.factories import issue_with, review, send_now
from tests.helpers.web import STAFF_PASSWORD, log_in

HOSTILE = '=cmd|"/C calc"!A0 </svg><script>alert(1)</script> & "quotes" \x01'
SVG = "{http://www.w3.org/2000/svg}"


def sent_issue(factory: sessionmaker[Session], settings: Settings) -> int:
    records = [review("dune", "Film"), replace(review("heat", "Film", 2), title=HOSTILE)]
    emails = [f"reader{i}@example.com" for i in range(3)]
    issue_id = issue_with(factory, settings, records, emails)
    send_now(factory, settings, issue_id, MemoryTransport())
    return issue_id


def xml(text: str) -> ET.Element:
    """``text`` parsed as XML (the app's own output: no entities to fear)."""
    return ET.fromstring(text)  # noqa: S314


def svgs(page: str) -> list[ET.Element]:
    """Every inline SVG of the page, parsed as XML (fails on anything not well-formed)."""
    return [xml(s) for s in re.findall(r"<svg\b.*?</svg>", page, re.S)]


def test_login_required(
    client: FlaskClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = sent_issue(factory, settings)
    for path in (f"/admin/issues/{issue_id}/report", f"/admin/issues/{issue_id}/report.csv"):
        answer = client.get(path)
        assert answer.status_code in (302, 303), path
        assert answer.headers["Location"].startswith("/admin/login")


@pytest.mark.parametrize("role", ["editor", "operator"])
def test_the_page_for_editors_and_operators(
    role: str,
    client: FlaskClient,
    services: Context,
    factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    issue_id = sent_issue(factory, settings)
    log_in(client, services, role)
    answer = client.get(f"/admin/issues/{issue_id}/report")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "<script>alert" not in page  # the hostile title is text everywhere
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for label in ("Recipients", "Delivered", "Bounced", "Complaints", "Unsubscribed"):
        assert f'<span class="label">{label}</span><span class="value">' in page
    assert "Opened" not in page  # opens are not tracked here
    assert f'href="/admin/issues/{issue_id}/report.csv"' in page
    review_chart, hours_chart = svgs(page)
    for chart in (review_chart, hours_chart):
        assert chart.get("role") == "img" and chart.get("viewBox", "").startswith("0 0 ")
        assert chart.find(f"{SVG}title") is not None and chart.find(f"{SVG}desc") is not None
    assert len(review_chart.findall(f"{SVG}g")) == 2  # one bar per review
    assert "Hours after the send started" in "".join(hours_chart.itertext())
    assert 'style="' not in page  # the page's CSP allows only its nonce'd <style>


def test_the_csv_download(
    client: FlaskClient, services: Context, factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = sent_issue(factory, settings)
    log_in(client, services, "editor")
    answer = client.get(f"/admin/issues/{issue_id}/report.csv")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    disposition = answer.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="issue-{issue_id}-2026-W48-reviews.csv"'
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True), newline="")))
    assert rows[0][:4] == ["section", "position", "title", "url"]
    titles = [row[2] for row in rows[1:]]
    assert titles[1].startswith("'=cmd")  # a formula no spreadsheet will run


def test_unknown_issue_and_wrong_method(client: FlaskClient, services: Context) -> None:
    log_in(client, services, "operator")
    assert client.get("/admin/issues/999/report").status_code == 404
    assert client.get("/admin/issues/999/report.csv").status_code == 404
    assert client.post("/admin/issues/999/report").status_code == 405


def test_a_draft_has_a_report_of_zeros(
    client: FlaskClient, services: Context, factory: sessionmaker[Session], settings: Settings
) -> None:
    issue_id = issue_with(factory, settings, [review("dune", "Film")], ["a@example.com"])
    log_in(client, services, "editor")
    page = client.get(f"/admin/issues/{issue_id}/report").get_data(as_text=True)
    assert "has not been sent yet" in page
    assert len(svgs(page)) == 2


# -- in a browser ------------------------------------------------------------------------------
@pytest.fixture
def served(services: Context) -> Iterator[str]:
    """The app over the test's database on a loopback port, in a thread of this process."""
    port = free_port()
    settings = services.settings.with_overrides(base_url=f"http://127.0.0.1:{port}")
    app = create_app(settings, context=replace(services, settings=settings))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_the_page_in_chromium_at_phone_and_desktop_width(
    browser: Any,
    served: str,
    services: Context,
    factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    issue_id = sent_issue(factory, settings)
    users.add_user(services, "op@example.com", "operator", STAFF_PASSWORD)
    for width in (375, 1280):
        page = browser.new_page(viewport={"width": width, "height": 900})
        try:
            page.goto(f"{served}/admin/issues/{issue_id}/report")  # to the login page first
            page.fill("input[name=email]", "op@example.com")
            page.fill("input[name=password]", STAFF_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"**/admin/issues/{issue_id}/report")
            boxes = [page.locator("svg.chart").nth(n).bounding_box() for n in range(2)]
            assert all(box and box["width"] > 250 and box["height"] > 60 for box in boxes)
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, f"the page is {overflow} px wide at {width}"
            if width == 1280:  # the two charts side by side
                assert boxes[0] and boxes[1] and boxes[0]["y"] == boxes[1]["y"]
            screenshot(page, f"admin-report-{width}.png")
        finally:
            page.close()


# -- the charts on their own --------------------------------------------------------------------
def test_bars_are_valid_xml_with_hostile_labels_escaped() -> None:
    out = charts.bar_chart(
        "c1", [(HOSTILE, 5), ("Dune", 0), ("x" * 300, 12)], title="T <b>", desc="D & d"
    )
    root = xml(out)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.findtext(f"{SVG}title") == "T <b>"
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert texts[0].startswith('=cmd|"/C calc"!A0 </svg><script>')  # text, not markup
    assert "12" in texts and "0" in texts  # the values at the bars' ends
    assert any(t.endswith("\u2026") and len(t) <= 56 for t in texts)  # long titles shortened
    widths = [float(r.get("width", "0")) for r in root.iter(f"{SVG}rect")]
    assert widths[2] == max(widths) and 0 < widths[1] < 2  # scaled; a zero is a hairline
    assert "<script>" not in out


def test_no_bars_says_so() -> None:
    root = xml(charts.bar_chart("c2", [], title="T", desc="D", empty="None <yet>"))
    assert "None <yet>" in "".join(root.itertext())


def test_the_line_has_labelled_axes_and_scales() -> None:
    values = [0] * 72
    values[3], values[30] = 7, 2
    root = xml(
        charts.line_chart("h", values, title="T", desc="D", x_label="Hours", y_label="Clicks")
    )
    words = [t.text for t in root.iter(f"{SVG}text")]
    assert {"Hours", "Clicks", "0h", "12h", "60h", "72h"} <= set(words)  # the end too
    assert "8" in words  # y axis ticks of 2 up to 8
    points = root.find(f"{SVG}polyline")
    assert points is not None and len(points.get("points", "").split()) == 72
    zeros = xml(charts.line_chart("z", [0] * 72, title="T", desc="D", x_label="x", y_label="y"))
    assert zeros.find(f"{SVG}circle") is None  # no peak to mark
    said = xml(
        charts.line_chart(
            "e", [0] * 4, title="T", desc="D", x_label="x", y_label="y", empty="None <yet>"
        )
    )
    assert "None <yet>" in "".join(said.itertext())


@pytest.mark.parametrize(("top", "step"), [(0, 1), (3, 1), (7, 2), (10, 5), (99, 50), (1234, 500)])
def test_round_steps(top: int, step: int) -> None:
    assert charts.nice_step(top) == step
