"""Settings: one immutable object built from ``NEWSLETTER_*`` variables and an optional ``.env``.

This is the only module that reads the process environment (through :meth:`Settings.from_env`,
called by the command line and ``worker.py``). Everything else receives a :class:`Settings`.
A bad value raises :class:`~newsletter.errors.ConfigError` naming the variable and the reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import time
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsletter.errors import ConfigError

PREFIX = "NEWSLETTER_"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WeeklyAt:
    """When the weekly job sends: a weekday (0 = Monday), a wall-clock time and an IANA zone."""

    weekday: int
    at: time
    tz: ZoneInfo

    def __str__(self) -> str:
        return f"{_DAYS[self.weekday]} {self.at:%H:%M} {self.tz.key}"


@dataclass(frozen=True)
class SmtpConfig:
    """Parsed ``NEWSLETTER_SMTP_URL``: ``smtp://user:pass@host:587?starttls=true``.

    ``smtps://`` means implicit TLS (RFC 8314); ``starttls=true`` upgrades a plain connection.
    """

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False
    timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    """Every knob of the pipeline. Field docs live in README.md ("Settings")."""

    database_url: str = "sqlite:///newsletter-data/newsletter.db"
    data_dir: Path = Path("newsletter-data")
    broker_url: str | None = None
    smtp_url: str | None = None
    from_address: str = "Reviews Weekly <digest@reviews.example.com>"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    sources: tuple[str, ...] = ()
    send_rate: float | None = None
    domain_rate: float | None = None
    redis_url: str | None = None
    weekly_at: WeeklyAt = field(
        default_factory=lambda: WeeklyAt(4, time(9, 0), ZoneInfo("America/New_York"))
    )
    site_name: str = "Reviews Weekly"
    site_url: str = "https://reviews.example.com/"
    logo_url: str | None = None
    accent_color: str = "#c2255c"
    postal_address: str = "Reviews Weekly, 100 Example Street, Springfield, USA"
    batch_size: int = 200
    sync_commit_every: int = 50
    new_limit: int = 12
    trending_limit: int = 5
    trending_half_life_days: float = 3.0
    weekly_grace_hours: float = 12.0
    fetch_timeout: float = 20.0
    fetch_max_bytes: int = 20 * 1024 * 1024
    bounce_address: str | None = None
    bounce_imap_url: str | None = None
    soft_bounce_limit: int = 3
    soft_bounce_days: float = 30.0
    track_clicks: bool = True
    track_opens: bool = False
    dkim_selector: str | None = None
    dkim_private_key: Path | None = None

    # -- derived values -------------------------------------------------------------------
    @property
    def sender_email(self) -> str:
        return parseaddr(self.from_address)[1]

    @property
    def mail_domain(self) -> str:
        return self.sender_email.rpartition("@")[2]

    @property
    def list_id(self) -> str:
        """RFC 2919 List-Id: a human phrase and a unique dotted identifier."""
        return f"{self.site_name} <weekly.{self.mail_domain}>"

    @property
    def unsubscribe_mailto(self) -> str:
        return f"unsubscribe@{self.mail_domain}"

    @property
    def verp(self) -> tuple[str, str] | None:
        """NEWSLETTER_BOUNCE_ADDRESS split for VERP: ``bounces@d`` -> ("bounces", "d")."""
        if not self.bounce_address:
            return None
        local, _, domain = parseaddr(self.bounce_address)[1].rpartition("@")
        return local, domain

    @property
    def timezone(self) -> ZoneInfo:
        """The site's zone: week keys and the weekly send time are read in it."""
        return self.weekly_at.tz

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def limiter_url(self) -> str | None:
        """Where workers share the send rate: NEWSLETTER_REDIS_URL, else a Redis broker."""
        if self.redis_url:
            return self.redis_url
        broker = self.broker_url or ""
        return broker if broker.startswith(("redis://", "rediss://", "unix://")) else None

    @property
    def smtp(self) -> SmtpConfig | None:
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Read settings from ``environ`` (default: the process environment) over ``dotenv``."""
        values: dict[str, str] = {}
        if dotenv is not None and dotenv.is_file():
            values.update(read_dotenv(dotenv))
        env = os.environ if environ is None else environ
        values.update({k: v for k, v in env.items() if k.startswith(PREFIX)})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Build settings from ``NEWSLETTER_*`` values; unknown names are ignored, empty ones
        mean "use the default"."""
        known = {PREFIX + f.name.upper(): f.name for f in fields(cls) if f.name != "from_address"}
        known[PREFIX + "FROM"] = "from_address"
        kwargs: dict[str, Any] = {}
        for variable, raw in values.items():
            name = known.get(variable)
            value = raw.strip()
            if name is None or value == "":
                continue
            allowed = "\n\t" if name == "sources" else ""
            if any((ord(c) < 32 and c not in allowed) or c == "\x7f" for c in value):
                # a CR/LF here could end up as a header line of its own (List-Id, From...)
                raise ConfigError(variable, "contains control characters (a line break?)")
            kwargs[name] = _PARSERS.get(name, _text)(variable, value)
        return cls(**kwargs)


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse ``.env``: ``KEY=VALUE`` lines, ``#`` comments, optional quotes and ``export``."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read it as UTF-8 text: {exc}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}", "expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def redact_url(value: str) -> str:
    """``value`` with the password of its ``user:password@`` part replaced: error messages
    name the URL, and must not print a secret to a terminal or a log."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return value
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def _split(variable: str, value: str) -> SplitResult:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(variable, f"unparsable URL {redact_url(value)!r}: {exc}") from exc
    return parts


def parse_smtp_url(url: str, variable: str = PREFIX + "SMTP_URL") -> SmtpConfig:
    parts = _split(variable, url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        got = redact_url(url)
        raise ConfigError(variable, f"expected smtp://host[:port] or smtps://host, got {got!r}")
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        timeout = float(query.get("timeout", "30"))
    except ValueError as exc:
        raise ConfigError(variable, f"bad port or timeout in {redact_url(url)!r}") from exc
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=parts.scheme == "smtps",
        starttls=query.get("starttls", "false").lower() in ("1", "true", "yes"),
        timeout=timeout,
    )


def parse_weekly_at(value: str, variable: str = PREFIX + "WEEKLY_AT") -> WeeklyAt:
    match = re.fullmatch(r"\s*([A-Za-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s+(\S+)\s*", value)
    if not match or match.group(1).lower() not in _DAYS:
        raise ConfigError(variable, f"expected 'DAY HH:MM Area/City', got {value!r}")
    hour, minute = int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise ConfigError(variable, f"no such time of day: {hour:02d}:{minute:02d}")
    return WeeklyAt(
        _DAYS.index(match.group(1).lower()), time(hour, minute), _zone(variable, match.group(4))
    )


def _zone(variable: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "America", a folder
        raise ConfigError(variable, f"unknown timezone {name!r}") from exc


def _text(variable: str, value: str) -> str:
    return value


def _http_url(variable: str, value: str) -> str:
    parts = _split(variable, value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(variable, f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/") if variable.endswith("BASE_URL") else value


def _database_url(variable: str, value: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(variable, f"unparsable database URL {redact_url(value)!r}") from exc
    return value


def _broker_url(variable: str, value: str) -> str:
    scheme = _split(variable, value).scheme
    if scheme not in ("redis", "rediss", "amqp", "amqps", "memory", "sentinel"):
        got = redact_url(value)
        raise ConfigError(variable, f"expected a redis:// or amqp:// URL, got {got!r}")
    return value


def _smtp_url(variable: str, value: str) -> str:
    parse_smtp_url(value, variable)
    return value


def _from(variable: str, value: str) -> str:
    address = parseaddr(value)[1]
    if not re.fullmatch(r"[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", address):
        raise ConfigError(variable, f"expected 'Name <user@domain>' or an address, got {value!r}")
    return value


def _positive_float(variable: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(variable, f"expected a number, got {value!r}") from exc
    if not number > 0:
        raise ConfigError(variable, f"must be greater than zero, got {value!r}")
    return number


def _positive_int(variable: str, value: str) -> int:
    if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
        raise ConfigError(variable, f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def _bool(variable: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, f"expected true or false, got {value!r}")


def _address(variable: str, value: str) -> str:
    address = _from(variable, value)
    if "+" in parseaddr(address)[1].partition("@")[0]:
        # VERP appends "+issue-subscriber-sig" to the local part (delivery/verp.py)
        raise ConfigError(variable, f"the local part cannot contain '+', got {value!r}")
    return parseaddr(address)[1]


def _imap_url(variable: str, value: str) -> str:
    parts = _split(variable, value)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        got = redact_url(value)
        raise ConfigError(variable, f"expected imaps://user:password@host/MAILBOX, got {got!r}")
    return value


def _selector(variable: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*", value):
        raise ConfigError(variable, f"expected a DNS label such as 'news2026', got {value!r}")
    return value


def _colour(variable: str, value: str) -> str:
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
        raise ConfigError(variable, f"expected a colour like #c2255c, got {value!r}")
    return value.lower()


def _sources(variable: str, value: str) -> tuple[str, ...]:
    return tuple(s for s in re.split(r"[\s,]+", value) if s)


_PARSERS: dict[str, Any] = {
    "database_url": _database_url,
    "data_dir": lambda _v, value: Path(value),
    "broker_url": _broker_url,
    "smtp_url": _smtp_url,
    "from_address": _from,
    "base_url": _http_url,
    "site_url": _http_url,
    "logo_url": _http_url,
    "sources": _sources,
    "send_rate": _positive_float,
    "domain_rate": _positive_float,
    "redis_url": _broker_url,
    "weekly_at": lambda variable, value: parse_weekly_at(value, variable),
    "accent_color": _colour,
    "batch_size": _positive_int,
    "sync_commit_every": _positive_int,
    "new_limit": _positive_int,
    "trending_limit": _positive_int,
    "trending_half_life_days": _positive_float,
    "weekly_grace_hours": _positive_float,
    "fetch_timeout": _positive_float,
    "fetch_max_bytes": _positive_int,
    "bounce_address": _address,
    "bounce_imap_url": _imap_url,
    "soft_bounce_limit": _positive_int,
    "soft_bounce_days": _positive_float,
    "track_clicks": _bool,
    "track_opens": _bool,
    "dkim_selector": _selector,
    "dkim_private_key": lambda _v, value: Path(value),
}
