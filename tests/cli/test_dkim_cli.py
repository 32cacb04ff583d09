"""``newsletter dkim keygen`` and ``dkim record``: a key never overwrites another, and the
record printed for it is the one the pre-flight check expects to find in DNS."""

from __future__ import annotations

import stat
from pathlib import Path

from newsletter.config import Settings
from tests.helpers.cli import run


def test_keygen_writes_a_private_key_once_and_record_prints_its_zone_lines(
    settings: Settings, tmp_path: Path
) -> None:
    env = settings.as_environ()
    made = run(["dkim", "keygen", "rsa.pem"], tmp_path, **env)
    assert made.returncode == 0, made.stderr
    assert "publish at {selector}._domainkey.{From domain}: v=DKIM1; k=rsa; p=" in made.stdout
    assert stat.S_IMODE((tmp_path / "rsa.pem").stat().st_mode) == 0o600
    again = run(["dkim", "keygen", "rsa.pem"], tmp_path, **env)
    assert again.returncode == 2 and "rsa.pem: exists already" in again.stderr
    assert run(["dkim", "keygen", "ed.pem", "--ed25519"], tmp_path, **env).returncode == 0

    configured = {
        **env,
        "NEWSLETTER_DKIM_SELECTOR": "news",
        "NEWSLETTER_DKIM_PRIVATE_KEY": str(tmp_path / "rsa.pem"),
        "NEWSLETTER_DKIM_ED25519_SELECTOR": "newsed",
        "NEWSLETTER_DKIM_ED25519_PRIVATE_KEY": str(tmp_path / "ed.pem"),
    }
    record = run(["dkim", "record"], tmp_path, **configured)
    assert record.returncode == 0, record.stderr
    lines = sorted(record.stdout.splitlines())
    assert lines[0].startswith('news._domainkey.reviews.example.com. IN TXT ( "v=DKIM1; k=rsa; p=')
    assert '" "' in lines[0]  # a 2048-bit key is cut into 255-octet strings
    assert lines[1].startswith('newsed._domainkey.reviews.example.com. IN TXT ( "v=DKIM1; k=ed2')
    unset = run(["dkim", "record"], tmp_path, **env)
    assert unset.returncode == 2 and "DKIM is not configured" in unset.stderr
