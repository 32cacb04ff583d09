"""The command line as users run it: verbs, exit codes, one-line errors, the editor's flow."""

from __future__ import annotations

import json
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import Result

from newsletter.cli import main
from newsletter.cli._app import describe
from newsletter.cli._issues import parse_move
from newsletter.errors import FieldError, InputError
from tests.helpers.cli import run
from tests.helpers.env import FIXTURES

VERBS = [
    [],
    ["demo"],
    ["db"],
    ["db", "upgrade"],
    ["ingest"],
    ["reviews", "export"],
    ["subscribers", "import"],
    ["subscribers", "add"],
    ["subscribers", "export"],
    ["subscribers", "forget"],
    ["issue", "build"],
    ["issue", "preview"],
    ["issue", "edit"],
    ["issue", "test-send"],
    ["issue", "send"],
    ["issue", "pause"],
    ["issue", "resume"],
    ["issue", "cancel"],
    ["issue", "status"],
    ["issue", "list"],
    ["issue", "show"],
    ["issue", "unschedule"],
    ["issue", "hold"],
    ["issue", "approve"],
    ["issue", "retry-failed"],
    ["issue", "report"],
    ["users"],
    ["users", "add"],
    ["users", "token"],
    ["weekly"],
    ["tick"],
    ["serve"],
    ["bounces"],
    ["bounces", "process"],
]


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: " ".join(v) or "newsletter")
def test_every_verb_has_help(verb: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*verb, "--help"]) == 0
    assert "Usage: newsletter" in capsys.readouterr().out


def test_bad_usage_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["issue", "preview", "not-a-number"]) == 2
    assert main(["ingest", "x.csv", "--format", "yaml"]) == 2
    assert main(["no-such-verb"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3
    assert all(line.startswith("newsletter: error: ") for line in err)
    assert "'not-a-number' is not a valid integer" in err[0]


def test_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path, NEWSLETTER_WEEKLY_AT="fri 09:00 Atlantis/Capital")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "newsletter: error: NEWSLETTER_WEEKLY_AT: unknown timezone 'Atlantis/Capital'"
    ]


def test_unreachable_database_exits_2(tmp_path: Path) -> None:
    url = "postgresql+psycopg://someone@127.0.0.1:9/nothing"
    result = run(["db", "upgrade"], tmp_path, NEWSLETTER_DATABASE_URL=url)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot connect" in result.stderr


def test_commands_before_db_upgrade_say_so(tmp_path: Path) -> None:
    result = run(["issue", "status", "1"], tmp_path)
    assert result.returncode == 2
    assert "run 'newsletter db upgrade' first" in result.stderr


def test_editor_flow_build_preview_send_status(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    ingested = run(
        [
            "ingest",
            str(FIXTURES / "exports/quirks.jsonl"),
            str(FIXTURES / "analytics/pageviews.csv"),
        ],
        tmp_path,
        **env,
    )
    assert ingested.returncode == 0, ingested.stderr
    assert "quirks.jsonl (jsonl): 5 new, 0 updated, 0 unchanged, 5 rejected" in ingested.stdout
    assert "rejected line 8: absurd_score (12/10)" in ingested.stdout
    for args in (
        ["zoe@example.com", "--name", "Zoë", "--categories", "film,tv", "--confirmed"],
        ["all@example.com", "--confirmed"],
        ["pending@example.com"],
    ):
        assert run(["subscribers", "add", *args], tmp_path, **env).returncode == 0
    bad = run(["subscribers", "add", "not-an-email"], tmp_path, **env)
    assert bad.returncode == 2
    assert "invalid email" in bad.stderr
    built = run(["issue", "build", "--now", "2026-11-24T12:00:00Z"], tmp_path, **env)
    assert built.returncode == 0, built.stderr
    issue_id = built.stdout.strip()
    assert "for 2026-W48 built: 5 new, 0 trending" in built.stderr
    again = run(["issue", "build", "--now", "2026-11-24T13:00:00Z"], tmp_path, **env)
    assert again.stdout.strip() == issue_id
    assert "exists (draft)" in again.stderr

    html = run(["issue", "preview", issue_id, "--subscriber", "ZOE@example.com"], tmp_path, **env)
    assert html.returncode == 0
    assert "Hi Zoë," in html.stdout
    assert "Moonlit Ferry" in html.stdout
    assert "Signal Lost" not in html.stdout  # Video Games: not one of Zoë's picks
    text = run(["issue", "preview", issue_id, "--format", "text"], tmp_path, **env)
    assert "Score: 8/10" in text.stdout
    assert "TL;DR: A calm, lovely crossing." in text.stdout
    eml_path = tmp_path / "preview.eml"
    eml = run(
        ["issue", "preview", issue_id, "--format", "eml", "-o", str(eml_path)], tmp_path, **env
    )
    assert eml.returncode == 0
    message = message_from_bytes(eml_path.read_bytes(), policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    missing = run(["issue", "preview", "999"], tmp_path, **env)
    assert missing.returncode == 2
    assert "issue 999: no such issue" in missing.stderr

    sent = run(["issue", "send", issue_id], tmp_path, **env)
    assert sent.returncode == 0, sent.stderr
    assert "2 new recipients" in sent.stdout
    assert "sent; 2 sent" in sent.stdout
    status = run(["issue", "status", issue_id], tmp_path, **env)
    assert f"issue {issue_id} (2026-W48): sent" in status.stdout
    assert "sent       2" in status.stdout
    twice = run(["issue", "send", issue_id], tmp_path, **env)
    assert twice.returncode == 1
    assert "is sent; only a draft can be sent" in twice.stderr
    # the two deliveries of the issue (the pending address got only its confirmation)
    assert len(list((tmp_path / "data" / "outbox").glob("nl.*.eml"))) == 2
    assert len(list((tmp_path / "data" / "outbox").glob("confirm.*.eml"))) == 1


def test_editor_edits_a_draft_and_sends_test_copies(tmp_path: Path, env: dict[str, str]) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text(
        json.dumps(
            {
                "url": "https://reviews.example.com/review-old-favourite/",
                "title": "REVIEW: Old Favourite",
                "category": "TV",
                "published_at": "2026-10-01T12:00:00Z",
                "score": 9,
                "score_max": 10,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    sources = [str(FIXTURES / "exports/quirks.jsonl"), str(old)]
    assert run(["ingest", *sources], tmp_path, **env).returncode == 0
    built = run(["issue", "build", "--now", "2026-11-24T12:00:00Z"], tmp_path, **env)
    issue_id = built.stdout.strip()
    site = "https://reviews.example.com"

    edited = run(
        [
            "issue", "edit", issue_id,
            "--subject", "Five reviews and an old favourite",
            "--intro", "Hello from the editor.",
            "--drop", f"{site}/review-signal-lost/",
            "--pin", f"{site}/review-old-favourite/",
            "--move", f"{site}/kdrama-crown/:1",
        ],
        tmp_path,
        **env,
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    assert "edited (version 2): 4 new, 1 trending" in edited.stdout
    text = run(["issue", "preview", issue_id, "--format", "text"], tmp_path, **env).stdout
    assert "Hello from the editor." in text
    assert "Signal Lost" not in text
    assert "Old Favourite" in text.split("== TRENDING ==")[1]
    assert text.index("Crown") < text.index("Moonlit Ferry")

    injected = run(
        ["issue", "edit", issue_id, "--subject", "Hi\r\nBcc: x@evil.example"], tmp_path, **env
    )
    assert injected.returncode == 2
    assert "--subject: a line break is not allowed in a mail header" in injected.stderr
    unknown = run(["issue", "edit", issue_id, "--pin", f"{site}/never-ingested/"], tmp_path, **env)
    assert unknown.returncode == 2
    assert "no stored review at that URL" in unknown.stderr

    tested = run(
        ["issue", "test-send", issue_id, "--to", "ed@example.com", "--to", "Copy@Example.com"],
        tmp_path,
        **env,
    )
    assert tested.returncode == 0, tested.stderr
    assert "sent to copy@example.com through the outbox" in tested.stdout
    copies = sorted((tmp_path / "data" / "outbox").glob("*.eml"))
    assert len(copies) == 2
    message = message_from_bytes(copies[0].read_bytes(), policy=policy.default)
    assert message["Subject"] == "[TEST] Five reviews and an old favourite"
    refused = run(["issue", "test-send", issue_id, "--to", "nope"], tmp_path, **env)
    assert refused.returncode == 2

    assert (
        run(["subscribers", "add", "r@example.com", "--confirmed"], tmp_path, **env).returncode == 0
    )
    assert run(["issue", "send", issue_id], tmp_path, **env).returncode == 0
    late = run(["issue", "edit", issue_id, "--intro", "Too late."], tmp_path, **env)
    assert late.returncode == 2
    assert (
        f"issue {issue_id} is sent: only a draft or a scheduled issue can be edited" in late.stderr
    )
    paused = run(["issue", "pause", issue_id], tmp_path, **env)
    assert paused.returncode == 1
    assert f"issue {issue_id} is sent: only a sending issue pauses" in paused.stderr
    cancelled = run(["issue", "cancel", issue_id], tmp_path, **env)
    assert "is sent: nothing to cancel" in cancelled.stderr
    followed = run(["issue", "status", issue_id, "--follow"], tmp_path, **env)
    assert followed.returncode == 0, followed.stderr
    assert f"issue {issue_id} sent" in followed.stdout
    assert "sent       1" in followed.stdout


def test_weekly_send_at_and_tick_from_the_command_line(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    sources = {**env, "NEWSLETTER_SOURCES": str(FIXTURES / "exports/quirks.jsonl")}
    assert (
        run(["subscribers", "add", "r@example.com", "--confirmed"], tmp_path, **env).returncode == 0
    )
    early = run(["weekly", "--now", "2026-11-27T10:00:00Z"], tmp_path, **sources)
    assert early.returncode == 0, early.stderr
    assert "week 2026-W48: issue 1 scheduled for 2026-11-27 09:00 EST (-05:00)" in early.stdout
    again = run(["weekly", "--now", "2026-11-27T11:00:00Z"], tmp_path, **sources)
    assert "week 2026-W48: already run (issue 1 scheduled" in again.stdout
    ticked = run(["tick", "--now", "2026-11-27T14:00:30Z"], tmp_path, **env)
    assert ticked.returncode == 0, ticked.stderr
    assert "issue 1: scheduled send started" in ticked.stdout
    assert len(list((tmp_path / "data" / "outbox").glob("*.eml"))) == 1
    past = run(["issue", "send", "1", "--at", "2020-01-01T00:00:00Z"], tmp_path, **env)
    assert past.returncode == 1
    assert "is sent; only a draft can be scheduled" in past.stderr


def test_export_reads_back_unchanged(tmp_path: Path, cli: Callable[..., Result]) -> None:
    assert cli("ingest", str(FIXTURES / "exports/quirks.csv")).exit_code == 0
    for fmt in ("jsonl", "csv"):
        exported = cli("reviews", "export", "--format", fmt)
        path = tmp_path / f"export.{fmt}"
        path.write_text(exported.stdout, encoding="utf-8")
        back = cli("ingest", str(path))
        assert "0 new, 0 updated, 3 unchanged, 0 rejected" in back.stdout, back.stdout
    first = json.loads(cli("reviews", "export").stdout.splitlines()[0])
    assert first["published_at"].endswith("Z")


def test_a_png_named_feed_is_refused_with_exit_1(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    result = run(["ingest", str(feed)], tmp_path, **env)
    assert result.returncode == 1
    assert f"{feed}: not a feed: the file is a PNG image" in result.stderr


def test_failed_source_exits_1_but_others_land(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    result = run(
        ["ingest", str(tmp_path / "nope.jsonl"), str(FIXTURES / "exports/quirks.csv")],
        tmp_path,
        **env,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "nope.jsonl: No such file or directory" in result.stderr
    assert "quirks.csv (csv): 3 new" in result.stdout


def test_ingest_reads_configured_sources_over_http(tmp_path: Path, env: dict[str, str]) -> None:
    from tests.helpers.documents import rss
    from tests.helpers.httpsite import Site, static

    site = Site().start()
    try:
        site.routes["/feed/"] = static(rss("a", "b"), "application/rss+xml", etag='"v1"')
        sources = {**env, "NEWSLETTER_SOURCES": f"{site.url}/feed/"}
        assert run(["db", "upgrade"], tmp_path, **sources).returncode == 0
        first = run(["ingest"], tmp_path, **sources)
        second = run(["ingest"], tmp_path, **sources)
    finally:
        site.stop()
    assert (first.returncode, first.stderr) == (0, "")
    assert f"{site.url}/feed/ (rss): 2 new, 0 updated, 0 unchanged, 0 rejected" in first.stdout
    assert "not modified, 0 new, 0 updated, 2 unchanged" in second.stdout


def test_ingest_without_sources_says_where_to_put_them(tmp_path: Path, env: dict[str, str]) -> None:
    result = run(["ingest"], tmp_path, **env)
    assert result.returncode == 2
    assert "no sources: pass SOURCE... or set NEWSLETTER_SOURCES" in result.stderr


def test_subscriber_import_and_formula_safe_export(cli: Callable[..., Result]) -> None:
    imported = cli("subscribers", "import", str(FIXTURES / "subscribers/latin1.csv"))
    assert imported.exit_code == 0
    assert "4 accepted, 0 updated, 0 unchanged, 0 suppressed, 3 rejected" in imported.stdout
    assert "line 7: unknown_category" in imported.stdout
    exported = cli("subscribers", "export").stdout
    assert "'=HYPERLINK" in exported
    assert "élise@example.fr,Élise,TV,pending" in exported


def test_a_week_with_nothing_to_send_builds_no_issue(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    result = run(["issue", "build", "--week", "2026-W10"], tmp_path, **env)
    assert result.returncode == 1
    assert "week 2026-W10: nothing to send" in result.stderr
    bad_week = run(["issue", "build", "--week", "2026-53"], tmp_path, **env)
    assert bad_week.returncode == 2
    assert "expected YYYY-Www" in bad_week.stderr


def test_send_through_an_unreachable_smtp_server_pauses_and_says_why(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """In this process (no broker) an outage is ridden out for 10 s at most: someone waits."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**env, "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout=2"}
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    assert run(["ingest", str(FIXTURES / "exports/quirks.jsonl")], tmp_path, **env).returncode == 0
    assert (
        run(["subscribers", "add", "a@example.com", "--confirmed"], tmp_path, **env).returncode == 0
    )
    issue_id = run(
        ["issue", "build", "--now", "2026-11-24T12:00:00Z"], tmp_path, **env
    ).stdout.strip()
    sent = run(["issue", "send", issue_id], tmp_path, **env)
    assert sent.returncode == 0, sent.stderr
    assert "paused; 1 queued" in sent.stdout
    assert "paused: the SMTP server failed every message for 1" in sent.stdout
    assert f"connect to 127.0.0.1:{port}: [Errno 111] Connection refused" in sent.stdout
    assert f"once that is fixed: 'newsletter issue resume {issue_id}'" in sent.stdout
    status = run(["issue", "status", issue_id], tmp_path, **env)
    assert "queued     1" in status.stdout
    assert "outage" in status.stdout and "5 retries" in status.stdout


def test_subscribers_forget(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    assert (
        run(["subscribers", "add", "Pat@Example.com", "--confirmed"], tmp_path, **env).returncode
        == 0
    )
    gone = run(["subscribers", "forget", "pat@example.COM"], tmp_path, **env)
    assert gone.returncode == 0, gone.stderr
    assert (
        gone.stdout.strip() == "pat@example.com: data erased; suppressed by hash only from now on"
    )
    exported = run(["subscribers", "export"], tmp_path, **env)
    assert "pat@example.com" not in exported.stdout.lower()
    again = run(["subscribers", "add", "pat@example.com"], tmp_path, **env)
    assert again.stdout.strip() == "pat@example.com: suppressed, not added"
    bad = run(["subscribers", "forget", "nope"], tmp_path, **env)
    assert bad.returncode == 2 and "invalid email" in bad.stderr


def test_subscribers_add_is_double_opt_in(tmp_path: Path, env: dict[str, str]) -> None:
    """Without --confirmed, add mails a confirmation link (to the outbox here) and the
    address stays pending; asking again within the hour sends nothing more."""
    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    added = run(["subscribers", "add", "Kim@Example.com", "--name", "Kim"], tmp_path, **env)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "kim@example.com: pending; confirmation sent"
    outbox = sorted((tmp_path / "data" / "outbox").glob("*.eml"))
    assert len(outbox) == 1
    mail = outbox[0].read_text(encoding="utf-8")
    assert "To: Kim <kim@example.com>" in mail
    assert "https://news.example.org/confirm/" in mail.replace("=\n", "")
    again = run(["subscribers", "add", "kim@example.com"], tmp_path, **env)
    assert "not re-sent" in again.stdout
    assert len(list((tmp_path / "data" / "outbox").glob("*.eml"))) == 1
    exported = run(["subscribers", "export"], tmp_path, **env).stdout
    assert "kim@example.com,Kim,,pending" in exported


def test_parse_move() -> None:
    assert parse_move("https://site.example/review-x/:2") == ("https://site.example/review-x/", 2)
    for bad in ("https://site.example/review-x/", "x:0", ":1", "x:two"):
        with pytest.raises(InputError, match="expected URL:POSITION"):
            parse_move(bad)


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (FieldError("week", "expected YYYY-Www", shown="'2026-53'"), "--week '2026-53': expected"),
        (FieldError("send_at", "that is in the past", shown="x", code="past"), "--at x: that is"),
        (FieldError("email", "invalid email 'x'"), "invalid email 'x'"),
    ],
)
def test_domain_fields_become_this_faces_options(error: FieldError, line: str) -> None:
    assert describe(error).startswith(line)
    if error.code == "past":
        assert describe(error).endswith("; leave --at out to send now")


def test_settings_lists_every_variable_with_its_default(cli: Callable[..., Result]) -> None:
    from newsletter.config import declarations

    listed = cli("settings").stdout
    for variable, default, _declaration in declarations():
        assert f"{variable} (default: {default.strip('`')})" in listed
    assert cli("settings", "--markdown").stdout.startswith("| variable | default | meaning |")


def test_preview_formats_offered_here_are_the_services_own() -> None:
    from newsletter.cli._issues import PREVIEW_FORMATS as offered
    from newsletter.services import PREVIEW_FORMATS

    assert offered == PREVIEW_FORMATS


def test_a_source_of_no_known_format_is_told_which_option_names_it(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("just some words, no feed, no export\n", encoding="utf-8")
    result = cli("ingest", str(notes))
    assert result.exit_code == 1
    assert "cannot tell its format" in result.stderr
    assert "(--format names it)" in result.stderr
