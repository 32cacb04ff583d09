"""Settings: defaults, parsing, .env, and bad values named with their reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter.config import Settings, parse_smtp_url, parse_weekly_at
from newsletter.errors import ConfigError
from newsletter.mail.verp import Identified, ReturnPath


def test_defaults_are_the_embedded_default() -> None:
    settings = Settings.from_mapping({})
    assert settings.database_url == "sqlite:///newsletter-data/newsletter.db"
    assert settings.broker_url is None
    assert settings.smtp_url is None
    assert str(settings.weekly_at) == "fri 09:00 America/New_York"


def test_every_documented_variable_is_read() -> None:
    settings = Settings.from_mapping(
        {
            "NEWSLETTER_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "NEWSLETTER_BROKER_URL": "redis://127.0.0.1:6379/0",
            "NEWSLETTER_SMTP_URL": "smtp://user:p%40ss@mail.example.com:587?starttls=true",
            "NEWSLETTER_FROM": "Digest <d@example.com>",
            "NEWSLETTER_BASE_URL": "https://news.example.com/",
            "NEWSLETTER_SECRET_KEY": "s3cret",
            "NEWSLETTER_SOURCES": "https://a.example/feed, /tmp/x.jsonl\nhttps://b.example/wp-json",
            "NEWSLETTER_SEND_RATE": "250",
            "NEWSLETTER_WEEKLY_AT": "Saturday 07:30 Europe/Berlin",
            "NEWSLETTER_BATCH_SIZE": "300",
            "NEWSLETTER_ACCENT_COLOR": "#AA3355",
            "NEWSLETTER_UNRELATED_THING": "ignored",
        }
    )
    assert settings.sources == (
        "https://a.example/feed",
        "/tmp/x.jsonl",
        "https://b.example/wp-json",
    )
    assert settings.base_url == "https://news.example.com"
    assert settings.send_rate == 250.0
    assert settings.batch_size == 300
    assert settings.weekly_at.weekday == 5
    assert settings.weekly_at.tz.key == "Europe/Berlin"
    assert settings.accent_color == "#aa3355"
    assert settings.sender_email == "d@example.com"
    assert settings.mail_domain == "example.com"
    smtp = settings.smtp
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.username, smtp.password, smtp.starttls) == (
        "mail.example.com",
        587,
        "user",
        "p@ss",
        True,
    )


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("NEWSLETTER_WEEKLY_AT", "fri 09:00 Mars/Olympus", "unknown timezone"),
        ("NEWSLETTER_WEEKLY_AT", "someday 09:00 UTC", "expected 'DAY HH:MM Area/City'"),
        ("NEWSLETTER_WEEKLY_AT", "fri 25:00 UTC", "no such time of day"),
        ("NEWSLETTER_BASE_URL", "news.example.com", "expected an http(s) URL"),
        ("NEWSLETTER_SMTP_URL", "http://mail.example.com", "expected smtp://"),
        ("NEWSLETTER_BROKER_URL", "localhost:6379", "expected a redis://"),
        ("NEWSLETTER_DATABASE_URL", "not a url at all", "unparsable database URL"),
        ("NEWSLETTER_SEND_RATE", "fast", "expected a number"),
        ("NEWSLETTER_SEND_RATE", "-3", "greater than zero"),
        ("NEWSLETTER_BATCH_SIZE", "0", "at least 1"),
        ("NEWSLETTER_FROM", "nobody", "expected 'Name <user@domain>'"),
        ("NEWSLETTER_ACCENT_COLOR", "red", "expected a colour"),
        ("NEWSLETTER_BOUNCE_ADDRESS", "bounces", "expected 'Name <user@domain>'"),
        ("NEWSLETTER_BOUNCE_ADDRESS", "bounces+x@example.com", "cannot contain '+'"),
        ("NEWSLETTER_BOUNCE_IMAP_URL", "pop3://mail.example.com", "expected imaps://"),
        ("NEWSLETTER_SOFT_BOUNCE_LIMIT", "0", "at least 1"),
        ("NEWSLETTER_SOFT_BOUNCE_DAYS", "a month", "expected a number"),
        ("NEWSLETTER_TRACK_CLICKS", "maybe", "expected true or false"),
        ("NEWSLETTER_TRACK_OPENS", "2", "expected true or false"),
        ("NEWSLETTER_DKIM_SELECTOR", "bad selector!", "expected a DNS label"),
        ("NEWSLETTER_DKIM_ED25519_SELECTOR", "bad selector!", "expected a DNS label"),
        ("NEWSLETTER_UNSUBSCRIBE_ADDRESS", "unsub+x@example.com", "cannot contain '+'"),
        ("NEWSLETTER_PREFLIGHT", "maybe", "expected block, warn or off"),
        ("NEWSLETTER_SMTP_OUTAGE_PAUSE", "five minutes", "expected a number"),
        ("NEWSLETTER_SMTP_OUTAGE_PAUSE", "0", "greater than zero"),
    ],
)
def test_bad_values_name_the_variable_and_reason(variable: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({variable: value})
    assert caught.value.variable == variable
    assert reason in str(caught.value)
    assert str(caught.value).startswith(variable + ":")


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nexport NEWSLETTER_SITE_NAME='From Dotenv'\nNEWSLETTER_BATCH_SIZE=50\n",
        encoding="utf-8",
    )
    settings = Settings.from_env({"NEWSLETTER_BATCH_SIZE": "75"}, dotenv)
    assert settings.site_name == "From Dotenv"
    assert settings.batch_size == 75


def test_bad_dotenv_line_is_named(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("NEWSLETTER_SITE_NAME=ok\nthis line is wrong\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE"):
        Settings.from_env({}, dotenv)


def test_smtps_means_implicit_tls() -> None:
    config = parse_smtp_url("smtps://relay.example.com")
    assert config.implicit_tls
    assert config.port == 465


def test_weekly_at_accepts_short_and_long_day_names() -> None:
    assert parse_weekly_at("mon 06:05 UTC").weekday == 0
    assert parse_weekly_at("Sunday 23:59 Asia/Tokyo").weekday == 6


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("NEWSLETTER_BATCH_SIZE", "²", "at least 1"),
        ("NEWSLETTER_SMTP_URL", "smtp://[broken", "unparsable URL"),
        ("NEWSLETTER_SMTP_URL", "smtp://host:port", "unparsable URL"),
        ("NEWSLETTER_BASE_URL", "https://[::1", "unparsable URL"),
        ("NEWSLETTER_BROKER_URL", "redis://[x", "unparsable URL"),
        ("NEWSLETTER_WEEKLY_AT", "fri 09:00 America", "unknown timezone"),
        ("NEWSLETTER_DATABASE_URL", "postgresql://h:notaport/db", "unparsable database URL"),
        ("NEWSLETTER_SITE_NAME", "Reviews\r\nBcc: x@example.com", "control characters"),
        ("NEWSLETTER_BASE_URL", "https://n.example/\nx", "control characters"),
    ],
)
def test_odd_values_are_config_errors_too(variable: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        Settings.from_mapping({variable: value})


def test_sources_may_span_lines() -> None:
    assert Settings.from_mapping({"NEWSLETTER_SOURCES": "a.jsonl\n\tb.csv"}).sources == (
        "a.jsonl",
        "b.csv",
    )


def test_unreadable_dotenv_is_named(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(b"NEWSLETTER_SITE_NAME=\xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read it as UTF-8"):
        Settings.from_env({}, dotenv)


def test_bounce_address_gives_a_signed_verp_return_path_per_message() -> None:
    verp = Settings.from_mapping(
        {
            "NEWSLETTER_BOUNCE_ADDRESS": "Bounces <bounces@mx.example.com>",
            "NEWSLETTER_SECRET_KEY": "k",
        }
    )
    assert verp.bounce_address == "bounces@mx.example.com"
    path = ReturnPath.from_settings(verp)
    assert path is not None
    address = path.for_delivery(7, 42)
    assert re.fullmatch(r"bounces\+7-42-[0-9a-f]{10}@mx\.example\.com", address)
    assert path.identify(address) == Identified(7, 42, signed=True)
    assert path.identify(path.for_confirmation(42)) == Identified(None, 42, signed=True)
    # another subscriber's id under this signature, or a made-up signature: not ours
    assert path.identify(address.replace("-42-", "-43-")) is None
    assert path.identify("bounces+7-42-0123456789@mx.example.com") is None
    assert path.identify("bounces+7-42@mx.example.com") == Identified(7, 42, signed=False)
    assert path.identify("bounces+7-9999999999@mx.example.com") is None  # not an id of ours
    assert ReturnPath.from_settings(Settings()) is None


def test_secrets_in_urls_are_not_printed() -> None:
    for variable, value in (
        ("NEWSLETTER_BOUNCE_IMAP_URL", "pop3://bounce:pa55word@mail.example.com/"),
        ("NEWSLETTER_SMTP_URL", "http://user:pa55word@mail.example.com"),
        ("NEWSLETTER_SMTP_URL", "smtp://user:pa55word@mail.example.com:port"),
        ("NEWSLETTER_BROKER_URL", "nats://user:pa55word@mq.example.com"),
    ):
        with pytest.raises(ConfigError) as caught:
            Settings.from_mapping({variable: value})
        assert "pa55word" not in str(caught.value)
        assert "user:***@" in str(caught.value) or "bounce:***@" in str(caught.value)


def test_tracking_switches() -> None:
    assert (Settings().track_clicks, Settings().track_opens) == (True, False)
    flipped = Settings.from_mapping(
        {"NEWSLETTER_TRACK_CLICKS": "off", "NEWSLETTER_TRACK_OPENS": "yes"}
    )
    assert (flipped.track_clicks, flipped.track_opens) == (False, True)


def test_overrides_are_checked_like_the_environment() -> None:
    base = Settings()
    assert base.with_overrides(send_rate="2.5", data_dir=Path("x")).send_rate == 2.5
    assert base.with_overrides(base_url="https://news.example.org/").base_url == (
        "https://news.example.org"  # the same normalization as NEWSLETTER_BASE_URL
    )
    with pytest.raises(ConfigError, match="NEWSLETTER_BATCH_SIZE: expected a whole number"):
        base.with_overrides(batch_size=0)
    with pytest.raises(ConfigError, match="NEWSLETTER_ACCENT_COLOR: expected a colour"):
        base.with_overrides(accent_color="red")
    with pytest.raises(ConfigError, match="NEWSLETTER_FROM: contains control characters"):
        base.with_overrides(from_address="A <a@b.example>\r\nBcc: x@evil.example")
    with pytest.raises(ConfigError, match="NEWSLETTER_SITE_NAME: cannot be unset"):
        base.with_overrides(site_name=None)
    with pytest.raises(ConfigError, match="no_such_thing: no such setting"):
        base.with_overrides(no_such_thing=1)
    assert base.with_overrides(smtp_url=None).smtp_url is None


def test_settings_pass_to_a_child_process_unchanged() -> None:
    settings = Settings.from_mapping(
        {
            "NEWSLETTER_SECRET_KEY": "k",
            "NEWSLETTER_SOURCES": "a.jsonl https://x.example/feed/",
            "NEWSLETTER_SEND_RATE": "12.5",
            "NEWSLETTER_TRACK_OPENS": "yes",
            "NEWSLETTER_WEEKLY_AT": "monday 07:30 Europe/Paris",
            "NEWSLETTER_DKIM_PRIVATE_KEY": "/etc/dkim.pem",
        }
    )
    assert Settings.from_mapping(settings.as_environ()) == settings


def test_every_setting_is_declared_with_a_parser_and_help() -> None:
    from dataclasses import fields

    from newsletter.config import Declaration, declarations

    for item in fields(Settings):
        declaration = item.metadata.get("setting")
        assert isinstance(declaration, Declaration), item.name
        assert declaration.help and callable(declaration.parse), item.name
    assert len(list(declarations())) == len(fields(Settings))
