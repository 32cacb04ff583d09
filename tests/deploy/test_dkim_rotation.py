"""Rotating the DKIM key needs no code: make a key under a new selector, publish its record
beside the old one (``newsletter dkim record`` with the new selector and key set for that one
command), switch the settings, retire the old record once mail signed with it has been
delivered. Each step, checked: the new record is printed under its own name, and mail signed
with either key verifies against a zone that holds both."""

from __future__ import annotations

from pathlib import Path

import dkim
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.cli._app import Runtime
from newsletter.config import Settings
from newsletter.mail.dkim import DkimSigner
from newsletter.services.dkim import new_key
from tests.helpers.dkim import digest


def _record(settings: Settings) -> str:
    result = CliRunner().invoke(cli, ["dkim", "record"], obj=Runtime(settings))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_new_selector_is_published_beside_the_old_and_both_verify(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret")  # From: reviews.example.com
    old_key, new_key_path = tmp_path / "news2026.pem", tmp_path / "news2027.pem"
    new_key(old_key)
    new_key(new_key_path)
    before = settings.with_overrides(dkim_selector="news2026", dkim_private_key=old_key)
    after = settings.with_overrides(dkim_selector="news2027", dkim_private_key=new_key_path)
    # 1. publish the new record next to the old one: the settings of that one command
    old_line, new_line = _record(before), _record(after)
    assert old_line.startswith("news2026._domainkey.reviews.example.com. IN TXT (")
    assert new_line.startswith("news2027._domainkey.reviews.example.com. IN TXT (")
    zone: dict[bytes, bytes] = {}
    for settings_ in (before, after):
        signer = DkimSigner.from_settings(settings_)
        assert signer is not None
        for name, value in signer.txt_records().items():
            zone[name.encode() + b"."] = value.encode()
    assert len(zone) == 2

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return zone.get(name)

    # 2. switch: mail signed before and after the switch both verify while both are published
    for settings_ in (before, after):
        signer = DkimSigner.from_settings(settings_)
        assert signer is not None
        assert dkim.verify(signer.sign(digest(settings_)), dnsfunc=lookup)
    # 3. retire the old record: what the old key signed no longer verifies, the new still does
    zone.pop(b"news2026._domainkey.reviews.example.com.")
    old_signer, new_signer = DkimSigner.from_settings(before), DkimSigner.from_settings(after)
    assert old_signer is not None and new_signer is not None
    assert not dkim.verify(old_signer.sign(digest(before)), dnsfunc=lookup)
    assert dkim.verify(new_signer.sign(digest(after)), dnsfunc=lookup)
