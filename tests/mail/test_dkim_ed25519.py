"""Ed25519 dual signing (RFC 8463): both signatures verified by dkimpy (with PyNaCl)."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.mail import make_transport
from newsletter.mail.dkim import DkimSigner, dns_txt_record, generate_ed25519_key, generate_key
from newsletter.mail.signing import SigningTransport
from newsletter.mail.transport import Envelope
from tests.helpers.dkim import DOMAIN, SELECTOR, digest, tags
from tests.helpers.smtp import Recorder

pytest.importorskip("nacl", reason="dkimpy verifies ed25519-sha256 only with PyNaCl")

ED_SELECTOR = "news2026e"
DnsFunc = Callable[..., bytes | None]


@pytest.fixture(scope="module")
def rsa_key() -> bytes:
    return generate_key(2048)


@pytest.fixture(scope="module")
def ed_key() -> bytes:
    return generate_ed25519_key()


@pytest.fixture(scope="module")
def dual(rsa_key: bytes, ed_key: bytes) -> DkimSigner:
    return DkimSigner(DOMAIN, SELECTOR, rsa_key, ed25519_selector=ED_SELECTOR, ed25519_key=ed_key)


@pytest.fixture(scope="module")
def dns(dual: DkimSigner) -> DnsFunc:
    """The zone as txt_records() says to publish it."""
    zone = {f"{name}.".encode(): value.encode() for name, value in dual.txt_records().items()}

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return zone.get(name)

    return lookup


def keyfiles(tmp_path: Path, rsa_key: bytes, ed_key: bytes) -> tuple[Path, Path]:
    (rsa := tmp_path / "rsa.pem").write_bytes(rsa_key)
    (ed := tmp_path / "ed25519.pem").write_bytes(ed_key)
    return rsa, ed


def test_both_signatures_verify(settings: Settings, dual: DkimSigner, dns: DnsFunc) -> None:
    message = digest(settings)
    signed = dual.sign(message)
    assert signed.endswith(message)
    assert signed.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;")
    assert signed.count(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;") == 1
    assert tags(signed)[b"s"] == ED_SELECTOR.encode()
    parsed = dkim.DKIM(signed)
    assert parsed.verify(idx=0, dnsfunc=dns) and parsed.signature_fields[b"a"] == b"ed25519-sha256"
    assert parsed.verify(idx=1, dnsfunc=dns) and parsed.signature_fields[b"a"] == b"rsa-sha256"
    # Same body, same fields signed: one body hash, one h= for both.
    first = dkim.util.parse_tag_value(signed.split(b"\r\nDKIM-Signature:")[0][15:])
    assert first[b"bh"] == parsed.signature_fields[b"bh"]
    assert first[b"h"] == parsed.signature_fields[b"h"]
    tampered = signed.replace(b"Thing 1", b"Thing 9", 1)
    assert not dkim.DKIM(tampered).verify(idx=0, dnsfunc=dns)
    assert not dkim.DKIM(tampered).verify(idx=1, dnsfunc=dns)


def test_the_ed25519_record_is_the_raw_public_key(ed_key: bytes, dual: DkimSigner) -> None:
    assert isinstance(serialization.load_pem_private_key(ed_key, None), ed25519.Ed25519PrivateKey)
    """RFC 8463 4.2: p= is the 32-octet key itself, which is the last 32 octets of the
    SubjectPublicKeyInfo openssl writes."""
    public = subprocess.run(
        ["openssl", "pkey", "-pubout", "-outform", "DER"],
        input=ed_key,
        capture_output=True,
        check=True,
    ).stdout
    raw = base64.b64encode(public[-32:]).decode()
    assert dns_txt_record(ed_key) == f"v=DKIM1; k=ed25519; p={raw}"
    pem = (
        serialization.load_pem_private_key(ed_key, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert dns_txt_record(pem) == dns_txt_record(ed_key)
    assert dual.txt_records()[f"{ED_SELECTOR}._domainkey.{DOMAIN}"] == dns_txt_record(ed_key)
    assert set(dual.txt_records()) == {
        f"{ED_SELECTOR}._domainkey.{DOMAIN}",
        f"{SELECTOR}._domainkey.{DOMAIN}",
    }


def test_a_key_openssl_made_signs(settings: Settings, rsa_key: bytes, dns: DnsFunc) -> None:
    made = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519"], capture_output=True, check=True
    ).stdout
    signer = DkimSigner(DOMAIN, SELECTOR, rsa_key, ed25519_selector="other", ed25519_key=made)
    record = signer.txt_records()[f"other._domainkey.{DOMAIN}"].encode()

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return record if name == f"other._domainkey.{DOMAIN}.".encode() else dns(name)

    assert dkim.verify(signer.sign(digest(settings)), dnsfunc=lookup)


def test_from_settings_signs_twice(
    settings: Settings, rsa_key: bytes, ed_key: bytes, tmp_path: Path, dns: DnsFunc
) -> None:
    rsa, ed = keyfiles(tmp_path, rsa_key, ed_key)
    configured = settings.with_overrides(
        dkim_selector=SELECTOR,
        dkim_private_key=rsa,
        dkim_ed25519_selector=ED_SELECTOR,
        dkim_ed25519_private_key=ed,
    )
    signer = DkimSigner.from_settings(configured)
    assert signer is not None
    signed = signer.sign(digest(settings))
    assert signed.count(b"DKIM-Signature:") == 2
    assert dkim.DKIM(signed).verify(idx=0, dnsfunc=dns)
    assert dkim.DKIM(signed).verify(idx=1, dnsfunc=dns)


ED = "NEWSLETTER_DKIM_ED25519_"


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ((SELECTOR, "rsa", ED_SELECTOR, None), rf"^{ED}PRIVATE_KEY: needed when {ED}SELECTOR"),
        ((SELECTOR, "rsa", None, "ed"), rf"^{ED}SELECTOR: needed when {ED}PRIVATE_KEY"),
        (
            (None, None, ED_SELECTOR, "ed"),
            rf"^NEWSLETTER_DKIM_SELECTOR: needed when {ED}SELECTOR is set: the RSA signature",
        ),
        (
            (SELECTOR, "rsa", ED_SELECTOR, "rsa"),
            rf"^{ED}PRIVATE_KEY: .*rsa.pem: not an Ed25519 private key but an RSA key",
        ),
        (
            (SELECTOR, "ed", ED_SELECTOR, "ed"),
            r"^NEWSLETTER_DKIM_PRIVATE_KEY: .*ed25519.pem: an Ed25519 key; this one must be RSA",
        ),
        ((SELECTOR, "rsa", ED_SELECTOR, "missing"), rf"^{ED}PRIVATE_KEY: cannot read .*missing"),
        ((SELECTOR, "rsa", ED_SELECTOR, "junk"), rf"^{ED}PRIVATE_KEY: .*junk.pem: no PEM block"),
        (
            (SELECTOR, "rsa", SELECTOR, "ed"),
            rf"^{ED}SELECTOR: the same as NEWSLETTER_DKIM_SELECTOR",
        ),
        ((SELECTOR, "rsa", "bad selector!", "ed"), rf"^{ED}SELECTOR: expected a DNS label"),
    ],
    ids=[
        "selector-only",
        "key-only",
        "no-rsa",
        "rsa-as-ed25519",
        "ed25519-as-rsa",
        "unreadable",
        "junk",
        "same-selector",
        "bad-selector",
    ],
)
def test_ed25519_settings_errors_name_the_setting(
    settings: Settings,
    rsa_key: bytes,
    ed_key: bytes,
    tmp_path: Path,
    configured: tuple[str | None, str | None, str | None, str | None],
    expected: str,
) -> None:
    rsa, ed = keyfiles(tmp_path, rsa_key, ed_key)
    (junk := tmp_path / "junk.pem").write_bytes(b"junk")
    files = {"rsa": rsa, "ed": ed, "missing": tmp_path / "missing.pem", "junk": junk}
    selector, key, ed_selector, ed_key_name = configured
    with pytest.raises(ConfigError, match=expected):
        DkimSigner.from_settings(
            Settings(
                from_address=settings.from_address,
                dkim_selector=selector,
                dkim_private_key=files[key] if key else None,
                dkim_ed25519_selector=ed_selector,
                dkim_ed25519_private_key=files[ed_key_name] if ed_key_name else None,
            )
        )


def test_signed_twice_through_smtp(
    settings: Settings,
    smtp_server: tuple[Recorder, int],
    rsa_key: bytes,
    ed_key: bytes,
    tmp_path: Path,
    dns: DnsFunc,
) -> None:
    """make_transport wraps SMTP in the dual signer; what a real SMTP server (aiosmtpd)
    receives verifies with both keys."""
    handler, port = smtp_server
    rsa, ed = keyfiles(tmp_path, rsa_key, ed_key)
    configured = settings.with_overrides(
        smtp_url=f"smtp://127.0.0.1:{port}",
        dkim_selector=SELECTOR,
        dkim_private_key=rsa,
        dkim_ed25519_selector=ED_SELECTOR,
        dkim_ed25519_private_key=ed,
    )
    transport = make_transport(configured)
    assert isinstance(transport, SigningTransport)
    try:
        transport.send(
            Envelope("digest@reviews.example.com", "ann@example.com", "<x@example.com>"),
            digest(settings),
        )
    finally:
        transport.close()
    (_sender, _recipients, received) = handler.messages[0]
    received = received.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert dkim.DKIM(received).verify(idx=0, dnsfunc=dns)
    assert dkim.DKIM(received).verify(idx=1, dnsfunc=dns)
