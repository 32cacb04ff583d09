"""``newsletter demo``: the main job on the embedded default, as a user runs it."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import sqlite3
from contextlib import closing
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import lxml.html
import pytest

from newsletter.jobs.demo import shipped_sample
from newsletter.tokens import Signer
from tests.helpers.cli import run

SAMPLE = shipped_sample()
CONFIRMED_IN_SAMPLE = 52  # of the 60 shipped subscribers; the others are pending or gone


def _expected_recipients() -> set[str]:
    with (SAMPLE / "subscribers.csv").open(encoding="utf-8") as handle:
        found = {row["email"] for row in csv.DictReader(handle) if row["status"] == "confirmed"}
    # every test below compares against this set: an empty one would let an empty outbox pass
    assert len(found) == CONFIRMED_IN_SAMPLE
    return found


def _sample_reviews() -> dict[str, dict[str, object]]:
    lines = (SAMPLE / "reviews.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["url"]: row for row in map(json.loads, lines)}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo")
    result = run(["demo"], folder)
    assert result.returncode == 0, result.stderr
    outbox = list((folder / "newsletter-data" / "outbox").glob("*.eml"))
    assert len(outbox) == CONFIRMED_IN_SAMPLE, result.stdout
    return folder, result.stdout


def test_demo_prints_a_summary(demo_run: tuple[Path, str]) -> None:
    _, out = demo_run
    assert re.search(r"^Issue 1 \(\d{4}-W\d\d\): .+ \+ \d+ more$", out, re.M)
    assert "reviews: 12 new this week, 5 trending" in out
    assert f"delivered: {len(_expected_recipients())} messages to the outbox" in out
    assert "newsletter-data/outbox/index.html" in out
    assert "run 'newsletter serve' to follow them" in out


def _messages(folder: Path) -> dict[str, EmailMessage]:
    out = {}
    for path in sorted((folder / "newsletter-data" / "outbox").glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        out[str(message["To"].addresses[0].addr_spec)] = message
    return out


def _link_targets(folder: Path) -> dict[str, str]:
    """Link token -> the URL its ``issue_links`` row names (the click redirect's target)."""
    database = folder / "newsletter-data" / "newsletter.db"
    with closing(sqlite3.connect(database)) as db:
        urls = dict(db.execute("SELECT id, url FROM issue_links").fetchall())
    signer = Signer((folder / "newsletter-data" / "secret.key").read_bytes().strip())
    return {signer.make("link", str(link_id)): url for link_id, url in urls.items()}


def test_one_valid_message_per_eligible_subscriber(demo_run: tuple[Path, str]) -> None:
    folder, _ = demo_run
    messages = _messages(folder)
    assert set(messages) == _expected_recipients()
    reviews = _sample_reviews()
    targets = _link_targets(folder)
    for email, message in messages.items():
        assert message.get_content_type() == "multipart/alternative", email
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/u/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        ids = re.fullmatch(
            r"<nl\.\d{4}-W\d\d\.1\.(\d+)@reviews\.example\.com>", message["Message-ID"]
        )
        assert ids is not None
        # the reader's own signed unsubscribe address (issue 1, this subscriber)
        mailto = rf"<mailto:unsubscribe\+1-{ids[1]}-[0-9a-f]{{10}}@reviews\.example\.com\?"
        assert re.search(mailto + "subject=unsubscribe>", message["List-Unsubscribe"])
        html_part = message.get_body(("html",))
        assert html_part is not None
        html = html_part.get_content()
        cards = lxml.html.fromstring(html).find_class("card")
        assert cards, email
        for card in cards:
            assert "padding" in card.get("style", "")  # premailer inlined the card's CSS
            href = card.xpath(".//a/@href")[0]
            assert href.startswith("http://127.0.0.1:8000/c/"), href  # a tracked link
            row = reviews[targets[href.split("/")[4]]]
            assert "TL;DR" in card.text_content()
            assert row["tldr"] in card.text_content()
            scores = card.find_class("score")
            if row["score"] is not None:
                assert len(scores) == 1
                assert scores[0].text == f"{row['score']:g}/{row['score_max']:g}"
                assert "background-color" in scores[0].get("style", "")
            else:
                assert scores == []


def test_message_ids_are_deterministic_across_fresh_runs(
    demo_run: tuple[Path, str], tmp_path: Path
) -> None:
    folder, _ = demo_run
    assert run(["demo"], tmp_path).returncode == 0
    first = {e: m["Message-ID"] for e, m in _messages(folder).items()}
    second = {e: m["Message-ID"] for e, m in _messages(tmp_path).items()}
    assert len(first) == CONFIRMED_IN_SAMPLE
    assert first == second


def test_second_run_delivers_nothing_new(demo_run: tuple[Path, str]) -> None:
    folder, _ = demo_run
    outbox = folder / "newsletter-data" / "outbox"
    before = {p.name: p.stat().st_mtime_ns for p in outbox.glob("*.eml")}
    assert len(before) == CONFIRMED_IN_SAMPLE
    result = run(["demo"], folder)
    assert result.returncode == 0
    assert f"delivered: nothing new ({len(before)} already delivered)" in result.stdout
    after = {p.name: p.stat().st_mtime_ns for p in outbox.glob("*.eml")}
    assert after == before


def test_index_lists_every_message(demo_run: tuple[Path, str]) -> None:
    folder, _ = demo_run
    index = (folder / "newsletter-data" / "outbox" / "index.html").read_text(encoding="utf-8")
    files = list((folder / "newsletter-data" / "outbox").glob("*.eml"))
    assert len(files) == CONFIRMED_IN_SAMPLE
    assert index.count('.eml"') == len(files)
    for path in files:
        assert f'href="{path.name}"' in index
        subject = message_from_bytes(path.read_bytes(), policy=policy.default)["Subject"]
        assert html.escape(str(subject), quote=False) in index


def test_unusable_data_folder_exits_2(tmp_path: Path) -> None:
    (tmp_path / "newsletter-data").write_text("a file where the folder should be")
    result = run(["demo"], tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "newsletter-data" in result.stderr


@pytest.mark.parametrize("damage", ["bad-json", "bad-date", "missing-file", "bad-subscriber"])
def test_corrupt_sample_exits_2_and_writes_nothing(tmp_path: Path, damage: str) -> None:
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLE, sample, ignore=shutil.ignore_patterns("__pycache__"))
    reviews = sample / "reviews.jsonl"
    if damage == "bad-json":
        reviews.write_text(reviews.read_text(encoding="utf-8")[:-40] + "\n", encoding="utf-8")
    elif damage == "bad-date":
        reviews.write_text(
            reviews.read_text(encoding="utf-8").replace("2026-11-26T", "2026-13-26T", 1),
            encoding="utf-8",
        )
    elif damage == "missing-file":
        (sample / "pageviews.csv").unlink()
    else:
        with (sample / "subscribers.csv").open("a", encoding="utf-8") as handle:
            handle.write("not-an-address,Nobody,,confirmed\n")
    work = tmp_path / "work"
    work.mkdir()
    result = run(["demo", "--sample-dir", str(sample)], work)
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
    assert "sample file" in result.stderr
    data = work / "newsletter-data"
    assert not (data / "newsletter.db").exists()
    assert not (data / "outbox").exists()


def test_the_demo_runs_embedded_whatever_the_environment_says(tmp_path: Path) -> None:
    from newsletter.config import Settings
    from newsletter.jobs.demo import embedded

    configured = Settings.from_mapping(
        {
            "NEWSLETTER_DATABASE_URL": "postgresql+psycopg://u@db.example/prod",
            "NEWSLETTER_BROKER_URL": "redis://127.0.0.1:6379/0",
            "NEWSLETTER_REDIS_URL": "redis://127.0.0.1:6379/1",
            "NEWSLETTER_SMTP_URL": "smtp://mail.example:587",
            "NEWSLETTER_SEND_RATE": "1",
            "NEWSLETTER_DOMAIN_RATE": "1",
            "NEWSLETTER_DKIM_SELECTOR": "news2026",
            "NEWSLETTER_DKIM_PRIVATE_KEY": "/etc/dkim.pem",
            "NEWSLETTER_DKIM_ED25519_SELECTOR": "news2026e",
            "NEWSLETTER_DKIM_ED25519_PRIVATE_KEY": "/etc/dkim-ed25519.pem",
        }
    )
    demo = embedded(configured, tmp_path / "d")
    assert demo.database_url == f"sqlite:///{tmp_path / 'd' / 'newsletter.db'}"
    assert demo.data_dir == tmp_path / "d"
    unset = (demo.broker_url, demo.redis_url, demo.smtp_url, demo.send_rate, demo.domain_rate)
    assert unset == (None, None, None, None, None)
    assert (demo.dkim_selector, demo.dkim_private_key) == (None, None)
    assert (demo.dkim_ed25519_selector, demo.dkim_ed25519_private_key) == (None, None)
