"""Setting values: their types (:class:`WeeklyAt`, :class:`SmtpConfig`) and the parsers that read
them from text. A parser takes the variable's name and its text and returns the value, or
raises :class:`~newsletter.errors.ConfigError` naming the variable and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from email.utils import parseaddr
from pathlib import Path
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


def dotenv_values(path: Path) -> dict[str, str]:
    """:func:`read_dotenv` of ``path`` when it is a file; nothing when there is none, or when
    it cannot even be looked at (a command run as another user in a folder that user may not
    enter, such as ``sudo -u newsletter newsletter ...`` from /root)."""
    try:
        present = path.is_file()
    except OSError:
        present = False
    return read_dotenv(path) if present else {}


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


def text(variable: str, value: str) -> str:
    return value


def http_url(variable: str, value: str) -> str:
    parts = _split(variable, value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(variable, f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/") if variable.endswith("BASE_URL") else value


def database_url(variable: str, value: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(variable, f"unparsable database URL {redact_url(value)!r}") from exc
    return value


def broker_url(variable: str, value: str) -> str:
    scheme = _split(variable, value).scheme
    if scheme not in ("redis", "rediss", "amqp", "amqps", "memory", "sentinel"):
        got = redact_url(value)
        raise ConfigError(variable, f"expected a redis:// or amqp:// URL, got {got!r}")
    return value


def smtp_url(variable: str, value: str) -> str:
    parse_smtp_url(value, variable)
    return value


def from_address(variable: str, value: str) -> str:
    address = parseaddr(value)[1]
    if not re.fullmatch(r"[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", address):
        raise ConfigError(variable, f"expected 'Name <user@domain>' or an address, got {value!r}")
    return value


def positive_float(variable: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(variable, f"expected a number, got {value!r}") from exc
    if not number > 0:
        raise ConfigError(variable, f"must be greater than zero, got {value!r}")
    return number


def positive_int(variable: str, value: str) -> int:
    if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
        raise ConfigError(variable, f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def rate_limits(variable: str, value: str) -> str:
    """Flask-Limiter's notation: ``5 per minute; 30 per hour`` (or ``5/minute``)."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError as exc:
        raise ConfigError(
            variable, f"expected limits like '5 per minute; 30 per hour', got {value!r}"
        ) from exc
    return value


def boolean(variable: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, f"expected true or false, got {value!r}")


def address(variable: str, value: str) -> str:
    """A bare address (``bounces@news.example.com``) with no ``+`` in its local part."""
    email = parseaddr(from_address(variable, value))[1]
    if "+" in email.partition("@")[0]:
        # VERP appends "+issue-subscriber-sig" to the local part (newsletter.mail.verp)
        raise ConfigError(variable, f"the local part cannot contain '+', got {value!r}")
    return email


def preflight(variable: str, value: str) -> str:
    """What the pre-flight check does to a scheduled send: ``block``, ``warn`` or ``off``."""
    lowered = value.lower()
    if lowered not in ("block", "warn", "off"):
        raise ConfigError(variable, f"expected block, warn or off, got {value!r}")
    return lowered


def imap_url(variable: str, value: str) -> str:
    parts = _split(variable, value)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        got = redact_url(value)
        raise ConfigError(variable, f"expected imaps://user:password@host/MAILBOX, got {got!r}")
    return value


def selector(variable: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*", value):
        raise ConfigError(variable, f"expected a DNS label such as 'news2026', got {value!r}")
    return value


def colour(variable: str, value: str) -> str:
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
        raise ConfigError(variable, f"expected a colour like #c2255c, got {value!r}")
    return value.lower()


def sources(variable: str, value: str) -> tuple[str, ...]:
    return tuple(s for s in re.split(r"[\s,]+", value) if s)


def path(variable: str, value: str) -> Path:
    return Path(value)


def weekly_at(variable: str, value: str) -> WeeklyAt:
    return parse_weekly_at(value, variable)


def zone(variable: str, value: str) -> ZoneInfo:
    """An IANA zone name (``Europe/Paris``)."""
    return _zone(variable, value.strip())


def zone_text(value: ZoneInfo) -> str:
    return value.key


def hours(variable: str, value: str) -> float:
    """A number of hours, zero or more, at most four weeks."""
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(variable, f"expected a number of hours, got {value!r}") from exc
    if not 0 <= number <= 24 * 28:
        raise ConfigError(variable, f"must be between 0 and {24 * 28} hours, got {value!r}")
    return number


def number_text(value: float) -> str:
    """A number as the settings table shows it: ``20``, ``0.5``."""
    return f"{value:g}"


def bool_text(value: bool) -> str:
    return "true" if value else "false"


def sources_text(value: tuple[str, ...]) -> str:
    return " ".join(value)


def secret_keys(variable: str, value: str) -> tuple[str, ...]:
    """Keys separated by commas (``old1,old2``): each one non-empty, so that a stray comma
    cannot stand for a key; a key itself cannot hold a comma (token_urlsafe's never do)."""
    if not value.strip():
        return ()
    keys = tuple(key.strip() for key in value.split(","))
    if any(not key for key in keys):
        raise ConfigError(variable, "an empty key between commas (or at either end)")
    return keys


def secret_keys_text(value: tuple[str, ...]) -> str:
    return ",".join(value)
