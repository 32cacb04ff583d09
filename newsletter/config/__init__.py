"""Settings: read once from ``NEWSLETTER_*`` variables (and ``.env``), passed into factories.

:class:`Settings` is declared in :mod:`newsletter.config.settings` (how a declaration works:
:mod:`~newsletter.config.declaration`), the value types and their parsers in
:mod:`newsletter.config.values`, the generated documentation in :mod:`~newsletter.config.docs`.
"""

from __future__ import annotations

from newsletter.config.declaration import Declaration, variable_of
from newsletter.config.docs import declarations, describe_settings, settings_table
from newsletter.config.settings import Settings
from newsletter.config.values import (
    PREFIX,
    SmtpConfig,
    WeeklyAt,
    parse_smtp_url,
    parse_weekly_at,
    read_dotenv,
    redact_url,
)

__all__ = [
    "PREFIX",
    "Declaration",
    "Settings",
    "SmtpConfig",
    "WeeklyAt",
    "declarations",
    "describe_settings",
    "parse_smtp_url",
    "parse_weekly_at",
    "read_dotenv",
    "redact_url",
    "settings_table",
    "variable_of",
]
