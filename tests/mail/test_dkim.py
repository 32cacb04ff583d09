"""DKIM: signatures made by newsletter.mail.dkim, verified by dkimpy against a stub DNS."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import dkim
import dkim.util
import pytest
from dkim.crypto import parse_private_key
from sqlalchemy.orm import Session, sessionmaker

from newsletter.compose.confirmation import confirmation_message
from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.mail import make_transport
from newsletter.mail.dkim import SIGNED, DkimSigner, dns_txt_record, generate_key
from newsletter.mail.memory import MemoryTransport
from newsletter.mail.signing import SigningTransport
from newsletter.mail.transport import Envelope, PermanentFailure
from tests.helpers.dkim import DOMAIN, SELECTOR, digest, tags
from tests.helpers.factories import issue_with, review, send_now
from tests.helpers.smtp import Recorder

DnsFunc = Callable[..., bytes | None]


@pytest.fixture(scope="module")
def key() -> bytes:
    return generate_key(2048)


@pytest.fixture(scope="module")
def signer(key: bytes) -> DkimSigner:
    return DkimSigner(DOMAIN, SELECTOR, key)


@pytest.fixture(scope="module")
def dns(key: bytes) -> DnsFunc:
    """dkimpy's ``dnsfunc``: the TXT record of our selector only, like a real zone."""
    record = dns_txt_record(key).encode()

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return lookup


def in_header(message: bytes, old: bytes, new: bytes) -> bytes:
    head, sep, body = message.partition(b"\r\n\r\n")
    assert head.count(old) == 1
    return head.replace(old, new) + sep + body


def test_a_digest_verifies_covering_list_unsubscribe_post(
    settings: Settings, signer: DkimSigner, dns: DnsFunc
) -> None:
    """DKIM signature verified by dkimpy against a stub DNS lookup, covering
    List-Unsubscribe-Post."""
    message = digest(settings)
    signed = signer.sign(message)
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert signed.endswith(message)
    assert signed.count(b"\n") == signed.count(b"\r\n")  # CRLF throughout
    assert dkim.verify(signed, dnsfunc=dns)
    signed_names = tags(signed)[b"h"].replace(b" ", b"").split(b":")
    for name in (b"from", b"subject", b"date", b"message-id", b"list-unsubscribe"):
        assert name in signed_names
    # Oversigned (RFC 6376 8.15): once for the field, once more for "no other such field".
    assert signed_names.count(b"list-unsubscribe-post") == 2
    assert signed_names.count(b"from") == 2
    assert tags(signed)[b"d"] == DOMAIN.encode() and tags(signed)[b"s"] == SELECTOR.encode()
    assert b"l" not in tags(signed)  # no body length limit (RFC 6376 8.2)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"List-Unsubscribe=One-Click", b"List-Unsubscribe=One-Klick"),
        (b"<https://news.example.org/u/tok?a=1&b=2>", b"<https://evil.example/u/tok?a=1&b=2>"),
        (b"Subject: ", b"Subject: Re: "),
    ],
    ids=["list-unsubscribe-post", "list-unsubscribe", "subject"],
)
def test_a_changed_header_fails(
    settings: Settings, signer: DkimSigner, dns: DnsFunc, old: bytes, new: bytes
) -> None:
    signed = signer.sign(digest(settings))
    assert not dkim.verify(in_header(signed, old, new), dnsfunc=dns)


def test_a_changed_body_fails(settings: Settings, signer: DkimSigner, dns: DnsFunc) -> None:
    signed = signer.sign(digest(settings))
    assert signed.count(b"Thing 1") >= 1
    assert not dkim.verify(signed.replace(b"Thing 1", b"Thing 9", 1), dnsfunc=dns)
    assert not dkim.verify(signed + b"PS: appended\r\n", dnsfunc=dns)


@pytest.mark.parametrize(
    "extra",
    [
        b"From: Support <support@evil.example>\r\n",
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        b"List-Unsubscribe: <https://evil.example/u>\r\n",
        b"Subject: Your account is locked\r\n",
    ],
    ids=["from", "list-unsubscribe-post", "list-unsubscribe", "subject"],
)
def test_a_second_copy_of_an_oversigned_field_fails(
    settings: Settings, signer: DkimSigner, dns: DnsFunc, extra: bytes
) -> None:
    signed = signer.sign(digest(settings))
    assert dkim.verify(b"Received: from relay.example by mx.example\r\n" + signed, dnsfunc=dns)
    assert not dkim.verify(extra + signed, dnsfunc=dns)  # a relay prepends its fields
    head, _, body = signed.partition(b"\r\n\r\n")
    assert not dkim.verify(head + b"\r\n" + extra + b"\r\n" + body, dnsfunc=dns)


def test_without_oversigning_an_added_list_unsubscribe_post_would_pass(
    settings: Settings, key: bytes, dns: DnsFunc
) -> None:
    """Why we oversign: dkimpy with each field named once accepts a prepended copy."""
    message = digest(settings)
    once = [b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post"]
    field = dkim.sign(message, SELECTOR.encode(), DOMAIN.encode(), key, include_headers=once)
    extra = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    assert dkim.verify(extra + field + message, dnsfunc=dns)


def test_the_confirmation_mail_verifies(
    settings: Settings, signer: DkimSigner, dns: DnsFunc
) -> None:
    now = datetime(2026, 11, 27, 15, tzinfo=UTC)
    _, message = confirmation_message(settings, "zoe@example.com", "Zoë", "https://x/c/t", now)
    assert message.count(b"\n") == message.count(b"\r\n")  # policy=SMTP: CRLF already
    signed = signer.sign(message)
    assert dkim.verify(signed, dnsfunc=dns)
    signed_names = tags(signed)[b"h"].replace(b" ", b"").split(b":")
    assert {b"from", b"to", b"subject", b"date", b"message-id"} <= set(signed_names)
    # Absent from this mail, named once in h=: nobody can add one (RFC 6376 5.4.2).
    assert signed_names.count(b"list-unsubscribe") == 1
    added = b"List-Unsubscribe: <https://evil.example/u>\r\n" + signed
    assert not dkim.verify(added, dnsfunc=dns)


def test_from_settings(settings: Settings, key: bytes, tmp_path: Path, dns: DnsFunc) -> None:
    assert DkimSigner.from_settings(settings) is None
    pem = tmp_path / "dkim.pem"
    pem.write_bytes(key)
    configured = Settings(
        from_address=settings.from_address, dkim_selector=SELECTOR, dkim_private_key=pem
    )
    signer = DkimSigner.from_settings(configured)
    assert signer is not None and signer.domain == DOMAIN and signer.bits == 2048
    assert dkim.verify(signer.sign(digest(settings)), dnsfunc=dns)
    missing = Settings(dkim_selector=SELECTOR, dkim_private_key=tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match=r"^NEWSLETTER_DKIM_PRIVATE_KEY: cannot read .*nope"):
        DkimSigner.from_settings(missing)
    with pytest.raises(ConfigError, match=r"^NEWSLETTER_DKIM_PRIVATE_KEY: needed when"):
        DkimSigner.from_settings(Settings(dkim_selector=SELECTOR))
    pem.write_bytes(b"junk")
    with pytest.raises(ConfigError, match=r"^NEWSLETTER_DKIM_PRIVATE_KEY: .*dkim.pem: no PEM"):
        DkimSigner.from_settings(configured)


def openssl(*args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


def test_the_dns_record_is_the_public_key_openssl_gives(key: bytes) -> None:
    public = openssl("rsa", "-pubout", stdin=key)
    p = b"".join(line for line in public.splitlines() if not line.startswith(b"-----"))
    assert dns_txt_record(key) == f"v=DKIM1; k=rsa; p={p.decode()}"
    assert dns_txt_record(public) == dns_txt_record(key)
    pkcs1 = openssl("rsa", "-traditional", stdin=key)
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert dns_txt_record(pkcs1) == dns_txt_record(key)


@pytest.mark.parametrize(
    "form",
    [
        lambda key: openssl("rsa", "-traditional", stdin=key),  # PKCS#1
        lambda key: key.replace(b"\n", b"\r\n"),
        lambda key: key.replace(b"\n", b""),  # a one-line value
        lambda key: key.replace(b"\n", b"\\n"),  # line breaks written as \n
    ],
    ids=["pkcs1", "crlf", "one-line", "escaped-newlines"],
)
def test_other_forms_of_the_key_sign_alike(
    settings: Settings, key: bytes, dns: DnsFunc, form: Callable[[bytes], bytes]
) -> None:
    signed = DkimSigner(DOMAIN, SELECTOR, form(key)).sign(digest(settings))
    assert dkim.verify(signed, dnsfunc=dns)


def test_only_crlf_messages_are_signed(signer: DkimSigner) -> None:
    with pytest.raises(ValueError, match="CRLF"):
        signer.sign(b"From: a@reviews.example.com\nSubject: x\n\nbody\n")
    with pytest.raises(ValueError, match="From"):
        signer.sign(b"Subject: x\r\n\r\nbody\r\n")


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    head = bytes([size]) if size < 0x80 else bytes([0x80 | (size.bit_length() + 7) // 8])
    tail = b"" if size < 0x80 else size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + tail + content


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def damaged(key: bytes) -> bytes:
    """The key with one bit of a CRT exponent flipped: it parses, but signs wrongly."""
    der = base64.b64decode(b"".join(openssl("rsa", "-traditional", stdin=key).splitlines()[1:-1]))
    fields = parse_private_key(der)
    names = ["version", "modulus", "publicExponent", "privateExponent", "prime1", "prime2"]
    names += ["exponent1", "exponent2", "coefficient"]
    fields["exponent1"] ^= 1 << 100
    body = _der(0x30, b"".join(_der_int(fields[name]) for name in names))
    pem = base64.encodebytes(body)
    return b"-----BEGIN RSA PRIVATE KEY-----\n" + pem + b"-----END RSA PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda key: b"", "no PEM block"),
        (lambda key: b"not a key at all", "no PEM block"),
        (lambda key: key.replace(b"M", b"*", 1), "not valid base64"),
        (lambda key: b"\n".join(key.splitlines()[:3] + key.splitlines()[-1:]), "not an RSA"),
        (lambda key: openssl("genrsa", "512"), "a 512-bit RSA key; at least 1024"),
        (lambda key: openssl("genpkey", "-algorithm", "ed25519"), "an Ed25519 key"),
        (lambda key: openssl("ecparam", "-name", "prime256v1", "-genkey"), "not an RSA private"),
        (
            lambda key: openssl(
                "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"
            ),
            "not an RSA private key",
        ),
        (lambda key: openssl("genrsa", "-aes256", "-passout", "pass:x", "1024"), "encrypted"),
        (lambda key: dns_txt_record(key).encode(), "no PEM block"),
        (lambda key: openssl("rsa", "-pubout", stdin=key), "this is a public key"),
        (damaged, "inconsistent"),
    ],
    ids=[
        "empty",
        "junk",
        "bad-base64",
        "truncated",
        "512-bit",
        "ed25519",
        "ec-sec1",
        "ec-pkcs8",
        "encrypted",
        "dns-record",
        "public-key",
        "damaged",
    ],
)
def test_a_bad_key_is_a_config_error(
    key: bytes, make: Callable[[bytes], bytes], reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        DkimSigner(DOMAIN, SELECTOR, make(key))
    assert caught.value.variable == "NEWSLETTER_DKIM_PRIVATE_KEY"
    assert str(caught.value).startswith("NEWSLETTER_DKIM_PRIVATE_KEY: ")
    assert reason in caught.value.reason


def test_an_issue_sent_over_smtp_arrives_signed(
    settings: Settings,
    factory: sessionmaker[Session],
    smtp_server: tuple[Recorder, int],
    key: bytes,
    dns: DnsFunc,
    tmp_path: Path,
) -> None:
    """The whole path: make_transport wraps SMTP in the signer; what a real SMTP server
    receives verifies, and its h= covers List-Unsubscribe-Post."""
    handler, port = smtp_server
    pem = tmp_path / "dkim.pem"
    pem.write_bytes(key)
    signed_settings = settings.with_overrides(
        smtp_url=f"smtp://127.0.0.1:{port}", dkim_selector=SELECTOR, dkim_private_key=pem
    )
    issue_id = issue_with(factory, signed_settings, [review("a", "Film")], ["ann@example.com"])
    transport = make_transport(signed_settings)
    assert isinstance(transport, SigningTransport)
    try:
        assert send_now(factory, signed_settings, issue_id, transport).sent == 1
    finally:
        transport.close()
    (_sender, _recipients, received) = handler.messages[0]
    received = received.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert dkim.verify(received, dnsfunc=dns)
    assert b"list-unsubscribe-post" in tags(received)[b"h"].lower()


def test_a_message_that_cannot_be_signed_is_not_sent(
    signer: DkimSigner,
) -> None:
    inner = MemoryTransport()
    with pytest.raises(PermanentFailure, match="cannot DKIM-sign"):
        SigningTransport(inner, signer).send(
            Envelope("a@example.com", "b@example.com", "<x@example.com>"), b"Subject: x\n\nbody\n"
        )
    assert inner.sent == []


def test_the_signature_is_byte_for_byte_dkimpys(
    settings: Settings, signer: DkimSigner, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same message, key, header list and t=: the same field, down to the folding (RSASSA
    PKCS#1 v1.5 is deterministic), so ours is dkimpy's signature made by OpenSSL."""
    message = digest(settings)
    names = [name.lower() for name, _ in dkim.DKIM(message, linesep=b"\r\n").headers]
    include = [n.encode() for n in SIGNED for _ in range(names.count(n.encode()) + 1)]
    monkeypatch.setattr(dkim, "time", SimpleNamespace(time=lambda: 1796390000.7))
    shipped = dkim.sign(
        message,
        SELECTOR.encode(),
        DOMAIN.encode(),
        key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=include,
        linesep=b"\r\n",
    )
    assert b"t=1796390000;" in shipped
    assert signer.sign(message, timestamp=1796390000) == shipped + message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Feedback-ID: 2026-W48:digest:", b"Feedback-ID: 2026-W49:digest:"),
        (b"To: ", b"To: Mallory <mallory@evil.example>, "),
    ],
    ids=["feedback-id", "to"],
)
def test_feedback_id_is_signed(
    settings: Settings, signer: DkimSigner, dns: DnsFunc, old: bytes, new: bytes
) -> None:
    signed = signer.sign(digest(settings))
    assert b"feedback-id" in tags(signed)[b"h"]
    assert not dkim.verify(in_header(signed, old, new), dnsfunc=dns)


def test_reply_to_is_signed_and_cannot_be_added(
    settings: Settings, signer: DkimSigner, dns: DnsFunc
) -> None:
    """Absent, Reply-To is named once (nobody can add one that diverts the replies);
    present, it is covered and oversigned."""
    message = digest(settings)
    signed = signer.sign(message)
    assert tags(signed)[b"h"].replace(b" ", b"").split(b":").count(b"reply-to") == 1
    added = b"Reply-To: <phish@evil.example>\r\n" + signed
    assert not dkim.verify(added, dnsfunc=dns)
    with_reply = message.replace(
        b"\r\nSubject:", b"\r\nReply-To: <editor@reviews.example.com>\r\nSubject:", 1
    )
    assert with_reply != message
    signed = signer.sign(with_reply)
    assert dkim.verify(signed, dnsfunc=dns)
    assert tags(signed)[b"h"].replace(b" ", b"").split(b":").count(b"reply-to") == 2
    changed = in_header(signed, b"editor@reviews", b"editor@evil")
    assert not dkim.verify(changed, dnsfunc=dns)


def test_txt_records_name_the_selector_and_give_the_public_key(
    signer: DkimSigner, key: bytes
) -> None:
    assert signer.txt_records() == {
        f"{SELECTOR}._domainkey.{DOMAIN}": dns_txt_record(key),
    }
