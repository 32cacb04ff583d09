"""DKIM keys: reading and checking the PEM files, the DNS records, making new keys.

Contract: :func:`rsa_private_key` and :func:`ed25519_private_key` take a PEM as an operator
pastes or stores it and return a checked ``cryptography`` key, or raise
:class:`~newsletter.errors.ConfigError` naming the setting it came from and the reason.
:func:`dns_txt_record` is the TXT value to publish for a key (RFC 6376 3.6.1, RFC 8463 4.2);
:func:`generate_key` and :func:`generate_ed25519_key` make new unencrypted PKCS#8 PEM keys.

RSA keys: PKCS#1 (``BEGIN RSA PRIVATE KEY``) or unencrypted PKCS#8 (``BEGIN PRIVATE KEY``,
what ``openssl genrsa`` writes since 3.0), at least 1024 bits (RFC 8301 3.2; use 2048).
Ed25519 keys: PKCS#8 (``openssl genpkey -algorithm ed25519``). The PEM may have lost its line
breaks or have them written as ``\\n`` (as an environment variable or a secret store gives it).
OpenSSL checks an RSA key's consistency when it loads it (p, q, d and the CRT values agree), so
a damaged key is refused here, once, rather than signing garbage on every message.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from newsletter.errors import ConfigError

KEY_SETTING: Final = "NEWSLETTER_DKIM_PRIVATE_KEY"
ED25519_KEY_SETTING: Final = "NEWSLETTER_DKIM_ED25519_PRIVATE_KEY"
MIN_BITS: Final = 1024  # RFC 8301 3.2: verifiers MUST reject shorter RSA keys
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_ED25519_OID: Final = bytes.fromhex("06032b6570")  # 1.3.101.112, RFC 8410


def read_pem(data: bytes, setting: str = KEY_SETTING) -> tuple[str, bytes]:
    """(label, DER) of the first PEM block, whatever became of its line breaks."""
    match = _PEM.search(data.replace(b"\\n", b"\n"))
    if match is None:
        raise ConfigError(setting, "no PEM block (expected '-----BEGIN PRIVATE KEY-----')")
    label, body = match.group(1).decode(), match.group(2)
    if "ENCRYPTED" in label or b"ENCRYPTED" in body:
        raise ConfigError(setting, "the key is encrypted: give the unencrypted PEM")
    try:
        return label, base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as exc:
        raise ConfigError(setting, f"the PEM body is not valid base64 ({exc})") from exc


def _load(der: bytes, *, check: bool = True) -> object:
    return serialization.load_der_private_key(der, None, unsafe_skip_rsa_key_validation=not check)


def rsa_private_key(label: str, der: bytes) -> rsa.RSAPrivateKey:
    """The checked RSA key of a PEM block (errors name NEWSLETTER_DKIM_PRIVATE_KEY)."""
    if "PUBLIC" in label:
        raise ConfigError(KEY_SETTING, "this is a public key; give the private key")
    if _ED25519_OID in der[:16]:
        raise ConfigError(
            KEY_SETTING,
            f"an Ed25519 key; this one must be RSA (Ed25519 goes in {ED25519_KEY_SETTING})",
        )
    try:
        key = _load(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        try:  # OpenSSL refuses an inconsistent RSA key; say so rather than "not RSA"
            damaged = isinstance(_load(der, check=False), rsa.RSAPrivateKey)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            damaged = False
        if damaged:
            raise ConfigError(KEY_SETTING, "the RSA key is inconsistent (damaged?)") from exc
        raise ConfigError(KEY_SETTING, "not an RSA private key (PKCS#1 or PKCS#8 PEM)") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(KEY_SETTING, "not an RSA private key (PKCS#1 or PKCS#8 PEM)")
    if key.key_size < MIN_BITS:
        raise ConfigError(
            KEY_SETTING, f"a {key.key_size}-bit RSA key; at least {MIN_BITS} (use 2048)"
        )
    return key


def ed25519_private_key(label: str, der: bytes) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key of a PEM block (errors name NEWSLETTER_DKIM_ED25519_PRIVATE_KEY)."""
    if "PUBLIC" in label:
        raise ConfigError(ED25519_KEY_SETTING, "this is a public key; give the private key")
    try:
        key = _load(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(ED25519_KEY_SETTING, "not an Ed25519 private key (PKCS#8 PEM)") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        kind = "an RSA key" if isinstance(key, rsa.RSAPrivateKey) else "another kind of key"
        raise ConfigError(
            ED25519_KEY_SETTING,
            f"not an Ed25519 private key but {kind} (make one with "
            "'openssl genpkey -algorithm ed25519')",
        )
    return key


def public_record(public: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    """The TXT value publishing a public key."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        # RFC 8463 4.2: p= is the raw 32-octet public key, not a SubjectPublicKeyInfo.
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(spki).decode()}"


def dns_txt_record(key: bytes) -> str:
    """The TXT value to publish at ``{selector}._domainkey.{domain}`` for a private or public
    key in PEM: ``v=DKIM1; k=rsa; p=`` the SubjectPublicKeyInfo DER in base64 (RFC 6376
    3.6.1; about 400 characters for 2048 bits, which a zone file must split into strings of
    at most 255 octets, 3.6.2.2), or ``v=DKIM1; k=ed25519; p=`` the raw 32-octet key in base64
    (RFC 8463 4.2). Errors name NEWSLETTER_DKIM_PRIVATE_KEY, or the Ed25519 setting for a
    private Ed25519 key."""
    label, der = read_pem(key)
    if "PUBLIC" not in label:
        if _ED25519_OID in der[:16]:
            return public_record(ed25519_private_key(label, der).public_key())
        return public_record(rsa_private_key(label, der).public_key())
    try:
        public = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(KEY_SETTING, "not an RSA or Ed25519 public key") from exc
    if not isinstance(public, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ConfigError(KEY_SETTING, "not an RSA or Ed25519 public key")
    return public_record(public)


def _pkcs8(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate_key(bits: int = 2048) -> bytes:
    """A new unencrypted RSA private key (e = 65537) in PKCS#8 PEM."""
    return _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def generate_ed25519_key() -> bytes:
    """A new Ed25519 private key in PKCS#8 PEM (what ``openssl genpkey -algorithm ed25519``
    writes)."""
    return _pkcs8(ed25519.Ed25519PrivateKey.generate())
