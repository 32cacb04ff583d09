"""The pre-flight routes of the API: the last report (404 until there is one), running the
check (editors may), and what it says about a draft whose link answers 404."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
from flask import Flask

from newsletter.preflight.dns import stub
from newsletter.preflight.run import Probes
from newsletter.services import Context, users
from newsletter.web import create_app
from tests.helpers.factories import issue_with, review
from tests.helpers.https_server import https_site


def test_an_editor_runs_the_check_and_reads_the_last_report(
    services: Context, tmp_path: Path
) -> None:
    with https_site(tmp_path) as site:
        site.statuses["/gone/"] = 404
        records = [replace(review(s, "Film"), url=f"{site.base}/{s}/") for s in ("ok", "gone")]
        issue = issue_with(services.factory, services.settings, records, ["ana@example.com"])
        users.add_user(services, "ed@example.com", "editor", None)
        token = users.new_token(services, "ed@example.com")
        probes = Probes(
            lookup=stub({}),
            transport=httpx.HTTPTransport(verify=site.client_context()),
            spam=False,
        )
        app: Flask = create_app(services.settings, context=replace(services, probes=probes))
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        before = client.get(f"/api/issues/{issue}/check", headers=headers)
        assert before.status_code == 404
        assert before.json is not None and "not checked yet" in before.json["error"]["message"]

        ran = client.post(f"/api/issues/{issue}/check", headers=headers)
        assert ran.status_code == 200, ran.json
        body = ran.json
        assert body is not None and body["passed"] is False and body["errors"] == 1
        [error] = [f for f in body["findings"] if f["severity"] == "error"]
        assert (
            error["check"] == "links" and error["message"] == f"link {site.base}/gone/ answered 404"
        )

        again = client.get(f"/api/issues/{issue}/check", headers=headers)
        assert again.status_code == 200 and again.json == body
        assert client.post("/api/issues/999999/check", headers=headers).status_code == 404
        assert client.post(f"/api/issues/{issue}/check").status_code == 401
