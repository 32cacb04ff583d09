"""A transport that DKIM-signs every message before handing it to another transport.

``make_transport`` wraps the configured transport in :class:`SigningTransport` when
``NEWSLETTER_DKIM_SELECTOR`` and ``NEWSLETTER_DKIM_PRIVATE_KEY`` are set, so issues, test
copies and confirmation mails are all signed, and the outbox shows exactly what SMTP would
get. The signature is made before the inner transport runs, so before ``ready`` is called and
before any byte of the message leaves: a message that cannot be signed is a permanent failure
of that message alone, never sent unsigned.

Cost: about 1 ms of CPU per 40 KB digest with a 2048-bit RSA key on the bench machine, most
of it OpenSSL's RSA operation (``bench/dkim_sign.py``: 0.7 to 0.9 ms for the key operation, as
``openssl speed rsa2048`` says, and 0.23 ms for the CRLF check, canonicalization, hashing and
the field; dkimpy as shipped takes 11.5 ms). An Ed25519 second signature adds 0.06 ms. End to
end (``bench/send.py --dkim``, two workers on two cores shared with PostgreSQL and smtp-sink)
that is about half the unsigned throughput: 573 to 732 msg/s against 1,214 to 1,425 unsigned
on 2026-12-01, where dkimpy with gmpy2 made 365. An MTA that signs (OpenDKIM behind Postfix)
is the alternative when that is too slow.
"""

from __future__ import annotations

from newsletter.mail.dkim import DkimSigner
from newsletter.mail.transport import Envelope, PermanentFailure, Ready, Transport


class SigningTransport:
    def __init__(self, inner: Transport, signer: DkimSigner) -> None:
        self.inner = inner
        self.signer = signer

    def send(self, envelope: Envelope, message: bytes, ready: Ready | None = None) -> None:
        try:
            signed = self.signer.sign(message)
        except Exception as exc:  # a malformed message or a key error: never sent unsigned
            raise PermanentFailure(f"cannot DKIM-sign the message: {exc}") from exc
        self.inner.send(envelope, signed, ready)

    def close(self) -> None:
        self.inner.close()
