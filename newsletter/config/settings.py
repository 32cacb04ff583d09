"""Settings: one immutable object built from ``NEWSLETTER_*`` variables and an optional ``.env``.

Every setting is declared once, below, as a field of :class:`Settings` made by
:func:`~newsletter.config.declaration.setting`:
its name (the variable is ``NEWSLETTER_`` and the field's name in capitals, unless it says
otherwise), type, default, parser and help. The environment, ``.env`` files and
:meth:`Settings.with_overrides` all go through those parsers; ``newsletter settings`` and the
README's table are generated from the help. A field declared without a parser stops the import.

This is the only module that reads the process environment (:meth:`Settings.from_env`, called by
the command line, the web app and ``worker.py``); everything else receives a :class:`Settings`.
A bad value raises :class:`~newsletter.errors.ConfigError` naming the variable and the reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import Field, dataclass, fields, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from newsletter.config import values as v
from newsletter.config.declaration import Declaration, parse, setting, variable_of
from newsletter.config.derived import Derived
from newsletter.config.values import PREFIX, WeeklyAt, dotenv_values
from newsletter.errors import ConfigError

_WEEKLY = WeeklyAt(4, time(9, 0), ZoneInfo("America/New_York"))


@dataclass(frozen=True)
class Settings(Derived):
    """Every knob of the pipeline, each declared once (README, "Settings"); what they imply
    (the envelope sender, the mail domain...) is in :class:`~newsletter.config.derived.Derived`."""

    database_url: str = setting(
        "sqlite:///newsletter-data/newsletter.db",
        v.database_url,
        "SQLAlchemy URL; PostgreSQL: `postgresql+psycopg://user@host/db`",
    )
    data_dir: Path = setting(
        Path("newsletter-data"),
        v.path,
        (
            "folder for the outbox, the demo sample copy and (when no secret key is set) the "
            "generated key"
        ),
    )
    broker_url: str | None = setting(
        None,
        v.broker_url,
        "Celery broker, e.g. `redis://127.0.0.1:6379/0`; unset: sends run in-process",
    )
    smtp_url: str | None = setting(
        None,
        v.smtp_url,
        (
            "`smtp://user:pass@host:587?starttls=true`, `smtps://host` (implicit TLS), "
            "`&timeout=30`; unset: messages go to the outbox folder"
        ),
    )
    from_address: str = setting(
        "Reviews Weekly <digest@reviews.example.com>",
        v.from_address,
        "From header; its address is the envelope sender and its domain names Message-IDs",
        env="NEWSLETTER_FROM",
    )
    base_url: str = setting(
        "http://127.0.0.1:8000",
        v.http_url,
        (
            "public URL of the web app, for unsubscribe, preferences and view-online links; "
            "production must use `https://` (RFC 8058 one-click needs it)"
        ),
    )
    secret_key: str | None = setting(
        None,
        v.text,
        (
            "signs subscriber links; production must set it (same value for every worker and web "
            "process). Unset: a key is generated once in the data folder"
        ),
    )
    secret_key_fallbacks: tuple[str, ...] = setting(
        (),
        v.secret_keys,
        (
            "earlier secret keys, comma-separated: links, tags and sessions they signed still "
            "verify after a rotation, nothing new is signed with them (docs/operations.md)"
        ),
        text=v.secret_keys_text,
    )
    sources: tuple[str, ...] = setting(
        (),
        v.sources,
        (
            "files and URLs that `ingest` (with no arguments) and the weekly job read, separated "
            "by commas or whitespace"
        ),
        text=v.sources_text,
    )
    fetch_timeout: float = setting(
        20.0,
        v.positive_float,
        (
            "seconds to connect and for each read when fetching a URL; one attempt, connecting, "
            "headers and body, ends within three times this (one that overran is not retried)"
        ),
        text=v.number_text,
    )
    fetch_max_bytes: int = setting(
        20 * 1024 * 1024,
        v.positive_int,
        "largest body accepted from a URL (after decompression) or read from a regular file",
    )
    send_rate: float | None = setting(
        None,
        v.positive_float,
        (
            "messages per second across all workers, shared through Redis (a GCRA limiter in one "
            "Lua script, on Redis's clock); unset: no limit. Without Redis (the embedded default)"
            " the limit holds in the one sending process"
        ),
        text=v.number_text,
    )
    domain_rate: float | None = setting(
        None,
        v.positive_float,
        (
            "messages per second to any one recipient domain (e.g. gmail.com), across all "
            "workers, checked together with the global rate"
        ),
        text=v.number_text,
    )
    redis_url: str | None = setting(
        None,
        v.broker_url,
        (
            "Redis for the shared rate limit when the broker is not Redis (e.g. RabbitMQ); with a"
            " Redis broker that one is used"
        ),
    )
    signup_client_limit: str = setting(
        "5 per minute; 30 per hour", v.rate_limits, "sign-ups taken from one client (IP) address"
    )
    signup_address_limit: str = setting(
        "3 per hour; 10 per day", v.rate_limits, "sign-ups taken for one email address"
    )
    weekly_at: WeeklyAt = setting(
        _WEEKLY,
        v.weekly_at,
        (
            "weekday, time and IANA zone of the weekly send, computed in that zone every week "
            "(09:00 stays 09:00 local across DST); the zone also defines issue weeks"
        ),
    )
    publication_zone: ZoneInfo | None = setting(
        None,
        v.zone,
        (
            "the publication's IANA zone: every time is read (a time without an offset) and "
            "shown in it; default: the zone of NEWSLETTER_WEEKLY_AT"
        ),
        env=PREFIX + "TIMEZONE",
        text=v.zone_text,
    )
    review_hours: float = setting(
        24.0,
        v.hours,
        (
            "the weekly job builds the draft this many hours before NEWSLETTER_WEEKLY_AT, mails "
            "the editors a preview link, and sends at the slot unless an editor holds it; 0: "
            "build and send together"
        ),
        text=v.number_text,
    )
    weekly_grace_hours: float = setting(
        12.0,
        v.positive_float,
        (
            "a weekly slot missed while everything was down is still run by the tick within this "
            "many hours; later, it is skipped (run `newsletter weekly` by hand)"
        ),
        text=v.number_text,
    )
    site_name: str = setting("Reviews Weekly", v.text, "brand name in the email and subjects")
    site_url: str = setting(
        "https://reviews.example.com/",
        v.http_url,
        "the publication; relative analytics paths resolve against it",
    )
    logo_url: str | None = setting(
        None,
        v.http_url,
        "logo image for the email header (https)",
    )
    accent_color: str = setting(
        "#c2255c",
        v.colour,
        "accent colour (`#rrggbb`); button text picks black or white for contrast",
    )
    postal_address: str = setting(
        "Reviews Weekly, 100 Example Street, Springfield, USA",
        v.text,
        "postal address in every footer (CAN-SPAM)",
        shown="an example address",
    )
    batch_size: int = setting(200, v.positive_int, "recipients claimed per batch task")
    delivery_lease: float = setting(
        15.0,
        v.positive_float,
        "seconds a batch holds its rows unrenewed; a live one renews every third of this, "
        "however slow SMTP is; a killed worker's rows are sent again within about 4/3 of it",
        text=v.number_text,
    )
    smtp_outage_pause: float = setting(
        300.0,
        v.positive_float,
        "seconds the SMTP server may refuse connections or defer every message (a 421, or 4xx"
        " to three recipients in a row) before the send pauses itself with the reason; until "
        "then each worker waits 1, 2, 4... up to 30 s and tries the same message again",
        text=v.number_text,
    )
    sync_commit_every: int = setting(
        50,
        v.positive_int,
        (
            "on PostgreSQL, every this-many-th outcome commit (and the last of each batch) waits "
            "for the disk; the others return once committed in the server (`synchronous_commit = "
            "off`). A killed worker never loses a mark either way; a crash of the database server"
            " itself can roll back at most this many minus one marks per worker, whose recipients"
            " may then get the issue twice. `1`: every commit waits (slower, see Benchmarks)"
        ),
    )
    bounce_address: str | None = setting(
        None,
        v.address,
        (
            "return path for bounces, e.g. `bounces@news.example.com`: each message is then sent "
            "from `bounces+{issue}-{subscriber}-{signature}@news.example.com` (signed VERP), so "
            "any bounce names its delivery, and only signed reports are applied. No `+` in the "
            "local part. Unset: the From address is the return path, and an unsigned report is "
            "applied when it quotes our Message-ID, names the subscriber's address and reached "
            "the From address (forgeable: set this in production; docs/SECURITY.md)"
        ),
    )
    bounce_imap_url: str | None = setting(
        None,
        v.imap_url,
        (
            "`imaps://user:password@host/Folder` (or `imap://`, upgraded with STARTTLS when "
            "offered) read by `newsletter bounces process imap`"
        ),
    )
    bounce_max_bytes: int = setting(
        2 * 1024 * 1024,
        v.positive_int,
        (
            "largest bounce or complaint report read; a bigger message is recorded as "
            "unparsable and only its first this-many bytes are read and kept aside"
        ),
    )
    soft_bounce_limit: int = setting(
        3,
        v.positive_int,
        "soft bounces on this many different issues ...",
    )
    soft_bounce_days: float = setting(
        30.0,
        v.positive_float,
        "... within this many days make the address a hard bounce",
        text=v.number_text,
    )
    track_clicks: bool = setting(
        True,
        v.boolean,
        ("send links through the click redirect (`/c/...`); `false`: plain links, no click counts"),
        text=v.bool_text,
    )
    track_opens: bool = setting(
        False,
        v.boolean,
        "add the open pixel (`/o/...`) to the HTML part",
        text=v.bool_text,
    )
    dkim_selector: str | None = setting(
        None,
        v.selector,
        "DKIM selector (`s=`); with the key, every message is signed",
    )
    dkim_private_key: Path | None = setting(
        None,
        v.path,
        (
            "path to the RSA private key (PEM, unencrypted, 2048 bits advised); its public half "
            "is published at `{selector}._domainkey.{From domain}`"
        ),
    )
    dkim_ed25519_selector: str | None = setting(
        None, v.selector, "selector of an optional second, Ed25519 signature (RFC 8463)"
    )
    dkim_ed25519_private_key: Path | None = setting(
        None,
        v.path,
        "its private key (PKCS#8 PEM: `newsletter dkim keygen FILE --ed25519`); with both "
        "set, every message is signed twice",
    )
    unsubscribe_address: str | None = setting(
        None,
        v.address,
        "mailbox for unsubscribe requests by mail: each reader's List-Unsubscribe mailto is "
        "`{local}+{signed tag}@{domain}`, read by `newsletter bounces process`; default "
        "`unsubscribe@{From domain}`; no `+` in the local part",
    )
    preflight: str = setting(
        "block",
        v.preflight,
        "before every scheduled send the pre-flight check (`newsletter issue check`) runs: "
        "`block` holds the send while it finds an error, `warn` sends anyway, `off` skips it",
    )
    new_limit: int = setting(12, v.positive_int, 'at most this many "New this week" reviews')
    trending_limit: int = setting(5, v.positive_int, "at most this many trending reviews")
    trending_half_life_days: float = setting(
        3.0,
        v.positive_float,
        "half-life of the trending decay",
        text=v.number_text,
    )

    # -- construction ---------------------------------------------------------------------
    def with_overrides(self, **changes: Any) -> Settings:
        """These settings with some changed, each checked by its parser as if it came from the
        environment (a value that is not text is written as text first). ``None`` unsets a
        setting whose default is unset."""
        parsed: dict[str, Any] = {}
        for name, value in changes.items():
            spec = _declared().get(name)
            if spec is None:
                raise ConfigError(name, "no such setting")
            item, declaration = spec
            if value is None:
                if item.default is not None:
                    raise ConfigError(variable_of(item), "cannot be unset")
                parsed[name] = None
                continue
            raw = value if isinstance(value, str) else declaration.text(value)
            parsed[name] = parse(item, raw)
        return replace(self, **parsed)

    def as_environ(self) -> dict[str, str]:
        """These settings as ``NEWSLETTER_*`` variables (unset ones left out), for a child
        process such as a worker: ``Settings.from_mapping(s.as_environ()) == s``."""
        out: dict[str, str] = {}
        for item, declaration in _declared().values():
            value = getattr(self, item.name)
            if value is not None:
                out[variable_of(item)] = declaration.text(value)
        return out

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Read settings from ``environ`` (default: the process environment) over ``dotenv``."""
        values = dotenv_values(dotenv) if dotenv is not None else {}
        env = os.environ if environ is None else environ
        values.update({k: v for k, v in env.items() if k.startswith(PREFIX)})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Build settings from ``NEWSLETTER_*`` values; unknown names are ignored, empty ones
        mean "use the default"."""
        by_variable = {variable_of(item): item for item, _ in _declared().values()}
        kwargs: dict[str, Any] = {}
        for variable, raw in values.items():
            item = by_variable.get(variable)
            value = raw.strip()
            if item is None or value == "":
                continue
            kwargs[item.name] = parse(item, value)
        return cls(**kwargs)


def _declared() -> dict[str, tuple[Field[Any], Declaration]]:
    return {item.name: (item, item.metadata["setting"]) for item in fields(Settings)}


for _item in fields(Settings):  # a setting without a declaration would be silently text
    if not isinstance(_item.metadata.get("setting"), Declaration):
        raise TypeError(f"Settings.{_item.name} is not declared with setting()")
