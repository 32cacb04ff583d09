"""DKIM keys for the command line: make one, and say what to publish in DNS."""

from __future__ import annotations

import os
from pathlib import Path

from newsletter.config import Settings
from newsletter.errors import InputError
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.dkim_keys import dns_txt_record, generate_ed25519_key, generate_key

STRING = 255  # octets in one TXT character-string (RFC 1035 3.3; RFC 6376 3.6.2.2)


def new_key(path: Path, *, ed25519: bool = False, bits: int = 2048) -> str:
    """Write a new private key (PKCS#8 PEM, readable by its owner only) to ``path``, which must
    not exist; return the TXT value that publishes it."""
    if not ed25519 and bits not in (2048, 3072, 4096):
        raise InputError(f"--bits {bits}: use 2048 (advised), 3072 or 4096")
    pem = generate_ed25519_key() if ed25519 else generate_key(bits)
    try:
        # O_EXCL: an existing key (perhaps the one in DNS today) is never overwritten
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InputError(f"{path}: exists already; choose another file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot write it: {exc.strerror}") from exc
    with os.fdopen(handle, "wb") as out:
        out.write(pem)
    return dns_txt_record(pem)


def records(settings: Settings) -> dict[str, str]:
    """DNS name -> TXT value of each configured key (ConfigError for a bad key)."""
    signer = DkimSigner.from_settings(settings)
    if signer is None:
        raise InputError("DKIM is not configured: set NEWSLETTER_DKIM_SELECTOR and ..._PRIVATE_KEY")
    return signer.txt_records()


def zone_line(name: str, value: str) -> str:
    """``name. IN TXT ( "..." "..." )`` with the value cut into 255-octet strings."""
    parts = [value[i : i + STRING] for i in range(0, len(value), STRING)]
    return f"{name}. IN TXT ( " + " ".join(f'"{p}"' for p in parts) + " )"
