"""DKIM signatures (RFC 6376) on outgoing messages, made by dkimpy.

Contract: ``DkimSigner(domain, selector, private_key)`` (or ``.from_file``, ``.from_settings``:
``NEWSLETTER_DKIM_SELECTOR`` and ``NEWSLETTER_DKIM_PRIVATE_KEY``, a PEM file; d= is the From
domain) checks the key once, when it is built, and raises
:class:`~newsletter.errors.ConfigError` naming ``NEWSLETTER_DKIM_PRIVATE_KEY`` and the reason if
it is unreadable or unusable. ``sign(message)`` takes a whole CRLF message (as
``MessageTemplate.build`` and ``EmailMessage(policy=SMTP).as_bytes()`` make them) and returns it
with one ``DKIM-Signature`` field prepended: rsa-sha256, relaxed/relaxed, no ``l=`` (RFC 6376
8.2: a body-length limit lets anyone append content). ``dns_txt_record(key)`` is the TXT value
to publish at ``{selector}._domainkey.{domain}`` (RFC 6376 3.6.2.2).

Keys: RSA only, PEM, PKCS#1 (``BEGIN RSA PRIVATE KEY``) or unencrypted PKCS#8 (``BEGIN PRIVATE
KEY``, what ``openssl genrsa`` writes since 3.0), at least 1024 bits (RFC 8301 3.2; use 2048).
The PEM may have lost its line breaks or have them written as ``\\n``. Ed25519
(RFC 8463) is refused: dkimpy signs it only with PyNaCl and a raw base64 seed, not a PEM key.

Signed fields: :data:`SIGNED` are all singletons in our mail, and each is "oversigned" (RFC 6376
8.15): named in ``h=`` once more than it occurs. A name with no matching field is hashed as empty
(5.4.2), so nobody can add a second From, Subject or List-Unsubscribe-Post (or a first
List-Unsubscribe on the confirmation mail) without breaking the signature. dkimpy's default list
would neither sign List-Unsubscribe-Post nor oversign anything but From.
"""

from __future__ import annotations

import base64
import binascii
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import dkim
from dkim.crypto import UnparsableKeyError, parse_private_key, parse_public_key, rsa_decrypt

from newsletter.config import Settings
from newsletter.errors import ConfigError, WorkError

KEY_SETTING: Final = "NEWSLETTER_DKIM_PRIVATE_KEY"
SELECTOR_SETTING: Final = "NEWSLETTER_DKIM_SELECTOR"
SIGNED: Final = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
)
MIN_BITS: Final = 1024  # RFC 8301 3.2: verifiers MUST reject shorter RSA keys
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_ED25519_OID = bytes.fromhex("06032b6570")  # 1.3.101.112, RFC 8410
_RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")  # rsaEncryption, NULL
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")  # selector and d=: RFC 6376 3.1, 3.5


def _read_pem(data: bytes) -> tuple[str, bytes]:
    """(label, DER) of a PEM block, whatever became of its line breaks."""
    match = _PEM.search(data.replace(b"\\n", b"\n"))
    if match is None:
        raise ConfigError(KEY_SETTING, "no PEM block (expected '-----BEGIN PRIVATE KEY-----')")
    label, body = match.group(1).decode(), match.group(2)
    if "ENCRYPTED" in label or b"ENCRYPTED" in body:
        raise ConfigError(KEY_SETTING, "the key is encrypted: give the unencrypted PEM")
    try:
        return label, base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as exc:
        raise ConfigError(KEY_SETTING, f"the PEM body is not valid base64 ({exc})") from exc


def _private_key(label: str, der: bytes) -> dict[str, int]:
    if "PUBLIC" in label:
        raise ConfigError(KEY_SETTING, "this is a public key; give the private key")
    if _ED25519_OID in der[:16]:
        raise ConfigError(KEY_SETTING, "an Ed25519 key; only RSA keys are supported")
    try:
        key: dict[str, int] = parse_private_key(der)
    except (UnparsableKeyError, AssertionError, ValueError) as exc:  # dkimpy's asn1 asserts
        raise ConfigError(KEY_SETTING, "not an RSA private key (PKCS#1 or PKCS#8 PEM)") from exc
    n, bits = key["modulus"], key["modulus"].bit_length()
    if bits < MIN_BITS:
        raise ConfigError(KEY_SETTING, f"a {bits}-bit RSA key; at least {MIN_BITS} (use 2048)")
    # A damaged key can still parse: check that its public half verifies what it signs.
    size, probe = (bits + 7) // 8, 0x5EED
    signed = int.from_bytes(rsa_decrypt(probe.to_bytes(size, "big"), key, size), "big")
    if key["prime1"] * key["prime2"] != n or pow(signed, key["publicExponent"], n) != probe:
        raise ConfigError(KEY_SETTING, "the RSA key is inconsistent (damaged?)")
    return key


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    head = bytes([size]) if size < 0x80 else bytes([0x80 | (size.bit_length() + 7) // 8])
    tail = b"" if size < 0x80 else size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + tail + content


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def dns_txt_record(key: bytes) -> str:
    """``v=DKIM1; k=rsa; p=...`` for an RSA private or public key in PEM: ``p=`` is the
    SubjectPublicKeyInfo DER in base64 (RFC 6376 3.6.1). About 400 characters for 2048 bits:
    a zone file must split it into strings of at most 255 octets (RFC 6376 3.6.2.2)."""
    label, der = _read_pem(key)
    if "PUBLIC" in label:
        try:
            public: dict[str, int] = parse_public_key(der)
        except (UnparsableKeyError, ValueError) as exc:
            raise ConfigError(KEY_SETTING, "not an RSA public key") from exc
    else:
        public = _private_key(label, der)
    rsa = _der(0x30, _der_int(public["modulus"]) + _der_int(public["publicExponent"]))
    spki = _der(0x30, _RSA_ALGORITHM + _der(0x03, b"\x00" + rsa))
    return f"v=DKIM1; k=rsa; p={base64.b64encode(spki).decode()}"


def generate_key(bits: int = 2048) -> bytes:
    """A new unencrypted RSA private key in PEM, made by the ``openssl`` command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise WorkError("cannot generate a DKIM key: the openssl command is not installed")
    done = subprocess.run([openssl, "genrsa", str(bits)], capture_output=True, check=False)
    if done.returncode != 0:
        raise WorkError(f"openssl genrsa failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


# dkimpy does RSA with Python's pow() on ints: 5.7 ms of a 7.4 ms signature (bench/dkim_sign.py).
# Its code is written for any int-like type, so the key's numbers are handed to it as GMP
# integers (gmpy2), which makes the same arithmetic about 8 times faster; the signature is
# byte for byte the same (PKCS #1 v1.5 is deterministic; tests verify it with dkimpy). dkimpy
# takes the key as PEM and parses it inside DKIM.sign through its module-level
# parse_pem_private_key, so that one name is wrapped: for a PEM a DkimSigner registered it
# returns the parsed key (which also saves re-parsing it per message), for anything else it
# calls dkimpy's own parser. Without gmpy2 the key stays in Python ints, just slower.
_PARSED: dict[bytes, dict[str, Any]] = {}
_dkimpy_parse = dkim.parse_pem_private_key


def _parse_pem_private_key(data: bytes) -> Any:
    parsed = _PARSED.get(data)
    return parsed if parsed is not None else _dkimpy_parse(data)


def _use_parsed_key(pem: bytes, key: dict[str, int]) -> None:
    try:
        import gmpy2
    except ImportError:  # gmpy2 is a dependency; this is only a fallback
        _PARSED[pem] = dict(key)
    else:
        _PARSED[pem] = {name: gmpy2.mpz(value) for name, value in key.items()}
    dkim.parse_pem_private_key = _parse_pem_private_key


def gmp_backed(signer: DkimSigner) -> bool:
    """Whether ``signer``'s RSA runs on GMP integers (gmpy2) rather than Python ints."""
    key = _PARSED.get(signer._pem, {})
    return bool(key) and type(key["modulus"]).__name__ == "mpz"


class DkimSigner:
    """Signs messages for ``domain`` with the key published under ``selector``."""

    def __init__(self, domain: str, selector: str, private_key: bytes) -> None:
        if not _NAME.fullmatch(domain):
            raise ValueError(f"DKIM d= must be a domain name, got {domain!r}")
        if not _NAME.fullmatch(selector):
            raise ConfigError(SELECTOR_SETTING, f"expected a DNS label, got {selector!r}")
        self.domain, self.selector = domain.lower(), selector
        label, der = _read_pem(private_key)
        parsed = _private_key(label, der)
        self.bits: int = parsed["modulus"].bit_length()
        # dkimpy parses the PEM again on every sign(), and only with LF line breaks.
        body = base64.encodebytes(der)
        self._pem = (
            f"-----BEGIN {label}-----\n".encode() + body + f"-----END {label}-----\n".encode()
        )
        _use_parsed_key(self._pem, parsed)

    @classmethod
    def from_file(cls, domain: str, selector: str, path: Path) -> DkimSigner:
        """A signer with the PEM key in ``path``; errors name the setting and the file."""
        try:
            return cls(domain, selector, path.read_bytes())
        except OSError as exc:
            raise ConfigError(KEY_SETTING, f"cannot read {path}: {exc.strerror}") from exc
        except ConfigError as exc:
            if exc.variable != KEY_SETTING:
                raise
            raise ConfigError(KEY_SETTING, f"{path}: {exc.reason}") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """The signer the settings ask for (d= is the From domain, for DMARC alignment), or
        None when neither NEWSLETTER_DKIM_SELECTOR nor NEWSLETTER_DKIM_PRIVATE_KEY is set."""
        selector, path = settings.dkim_selector, settings.dkim_private_key
        if selector is None and path is None:
            return None
        if selector is None:
            raise ConfigError(SELECTOR_SETTING, f"needed when {KEY_SETTING} is set")
        if path is None:
            raise ConfigError(KEY_SETTING, f"needed when {SELECTOR_SETTING} is set")
        return cls.from_file(settings.mail_domain, selector, path)

    def sign(self, message: bytes) -> bytes:
        """``message`` (CRLF line ends) with a ``DKIM-Signature`` field prepended."""
        if message.count(b"\n") != message.count(b"\r\n"):
            raise ValueError("DKIM signing needs CRLF line ends throughout (RFC 5322 2.3)")
        signer: Any = dkim.DKIM(message, linesep=b"\r\n")
        present = [name.lower() for name, _ in signer.headers]
        if b"from" not in present:
            raise ValueError("the message has no From field, which DKIM MUST sign (RFC 6376 5.4)")
        # Each name one time more than it occurs: oversigning, RFC 6376 8.15 and 5.4.2.
        include = [n.encode() for n in SIGNED for _ in range(present.count(n.encode()) + 1)]
        field: bytes = signer.sign(
            self.selector.encode(),
            self.domain.encode(),
            self._pem,
            canonicalize=(b"relaxed", b"relaxed"),  # RFC 6376 3.4.2 and 3.4.4
            include_headers=include,
        )
        return field + message
