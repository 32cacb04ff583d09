"""Values derived from the declared settings (the envelope sender, the mail domain, where the
shared rate lives...), one place each. :class:`Derived` is a base of
:class:`~newsletter.config.settings.Settings`; it declares no setting of its own."""

from __future__ import annotations

import hashlib
import re
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

from newsletter.config.values import PREFIX, SmtpConfig, WeeklyAt, parse_smtp_url
from newsletter.errors import ConfigError


class Derived:
    """What the declared settings imply. The attributes below are the declared settings these
    properties read (fields of the dataclass that inherits this)."""

    from_address: str
    site_name: str
    bounce_address: str | None
    unsubscribe_address: str | None
    weekly_at: WeeklyAt
    publication_zone: ZoneInfo | None
    data_dir: Path
    redis_url: str | None
    broker_url: str | None
    smtp_url: str | None
    send_rate: float | None
    domain_rate: float | None

    def __post_init__(self) -> None:
        """Settings that hold only together (the dataclass calls this once it is built):
        :class:`ConfigError` naming the one to set."""
        broker = self.broker_url or ""
        limited = self.send_rate is not None or self.domain_rate is not None
        if limited and broker and not broker.startswith("memory://") and not self.limiter_url:
            # Each worker would otherwise keep the rate alone: N workers, N times the rate.
            raise ConfigError(
                PREFIX + "REDIS_URL",
                "needed with NEWSLETTER_SEND_RATE or NEWSLETTER_DOMAIN_RATE when the broker is "
                f"not Redis ({broker.partition(':')[0]}://): the workers share the rate in Redis",
            )

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
    def feedback_sender_id(self) -> str:
        """The SenderId of ``Feedback-ID`` (Gmail reads 5-15 characters): the mail domain's
        first 7 letters or digits, readable in Postmaster Tools, then 8 hex digits of its
        SHA-256, so two domains that start alike differ; the same on every message."""
        domain = self.mail_domain.lower()
        digest = hashlib.sha256(domain.encode()).hexdigest()[:8]
        return re.sub(r"[^a-z0-9]", "", domain)[:7] + digest

    @property
    def unsubscribe_mailto(self) -> str:
        """The mailbox for unsubscribe requests by mail (NEWSLETTER_UNSUBSCRIBE_ADDRESS, else
        ``unsubscribe@`` the From domain); each reader's address adds ``+{signed tag}``."""
        return self.unsubscribe_address or f"unsubscribe@{self.mail_domain}"

    @property
    def verp(self) -> tuple[str, str] | None:
        """NEWSLETTER_BOUNCE_ADDRESS split for VERP: ``bounces@d`` -> ("bounces", "d")."""
        if not self.bounce_address:
            return None
        local, _, domain = parseaddr(self.bounce_address)[1].rpartition("@")
        return local, domain

    @property
    def timezone(self) -> ZoneInfo:
        """The publication's zone (NEWSLETTER_TIMEZONE, else the weekly slot's): times are
        read and shown in it."""
        return self.publication_zone or self.weekly_at.tz

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
