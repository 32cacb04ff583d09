"""``newsletter issue check ID`` as a user runs it: a process, real DNS and the system's trust
store (plus the test site's certificate through SSL_CERT_FILE, which httpx honours)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from tests.helpers.cli import run
from tests.helpers.factories import issue_with, review
from tests.helpers.https_server import Site, https_site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with https_site(tmp_path) as running:
        running.statuses["/broken/"] = 404
        yield running


def test_the_command_prints_each_finding_with_its_fix_and_exits_1_on_an_error(
    factory: sessionmaker[Session], settings: Settings, site: Site, tmp_path: Path
) -> None:
    settings = settings.with_overrides(base_url=f"{site.base}/app")
    reviews = [
        replace(review(slug, "Film"), url=f"{site.base}/{slug}/", image_url=None)
        for slug in ("good", "broken")
    ]
    issue_id = issue_with(factory, settings, reviews, ["ana@example.com"])
    env = {**settings.as_environ(), "SSL_CERT_FILE": str(site.cafile)}

    done = run(["issue", "check", str(issue_id)], tmp_path, **env)

    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    # the warnings: not DKIM-signed, no SPF, no DMARC, the masthead's site unreachable
    assert lines[0].endswith("1 error, 4 warnings; it has errors: a scheduled send waits for a fix")
    assert f"error   links       link {site.base}/broken/ answered 404" in lines
    fix = lines[lines.index(f"error   links       link {site.base}/broken/ answered 404") + 1]
    assert fix.strip().startswith("fix: correct the address at the source")

    as_json = run(["issue", "check", str(issue_id), "--json"], tmp_path, **env)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["passed"] is False and report["issue_id"] == issue_id
    assert [f["check"] for f in report["findings"] if f["severity"] == "error"] == ["links"]


def test_an_unknown_issue_is_bad_input(settings: Settings, tmp_path: Path, engine: object) -> None:
    done = run(["issue", "check", "999"], tmp_path, **settings.as_environ())
    assert done.returncode == 2
    assert done.stderr.strip() == "newsletter: error: issue 999: no such issue"
