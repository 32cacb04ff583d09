"""The app factory: a mail set-up that cannot work stops start-up, not every request later."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.services import Context
from newsletter.web import create_app


def test_a_bad_dkim_key_stops_the_app_at_start(
    settings: Settings, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    key = tmp_path / "dkim.pem"
    key.write_text("not a key", encoding="ascii")
    broken = settings.with_overrides(dkim_selector="news2026", dkim_private_key=key)
    with pytest.raises(ConfigError, match="NEWSLETTER_DKIM_PRIVATE_KEY"):
        create_app(broken, context=Context(broken, factory))
