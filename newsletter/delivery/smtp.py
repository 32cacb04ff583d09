"""SMTP transport: one reusable connection, replies sorted into temporary and permanent.

Reply classes follow RFC 5321 4.2.1: 2xx accepted, 4xx transient (retry later), 5xx permanent;
a 5xx to RCPT TO is a hard bounce of that address. A connection lost after the final dot of DATA
is an :class:`UnknownOutcome` (RFC 5321 4.1.1.4: the server may already own the message).
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl

from newsletter.config import SmtpConfig
from newsletter.delivery.transport import (
    Envelope,
    PermanentFailure,
    TemporaryFailure,
    UnknownOutcome,
)

_LEADING_DOT = re.compile(rb"(?m)^\.")


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(message.split())}"


def _raise_for(code: int, text: bytes | str, stage: str, *, rcpt: bool = False) -> None:
    reason = f"{stage}: {_reply(code, text)}"
    if 400 <= code < 500:
        raise TemporaryFailure(reason, code)
    raise PermanentFailure(reason, code, hard_bounce=rcpt and code in (550, 551, 553))


class SmtpTransport:
    def __init__(self, config: SmtpConfig, local_hostname: str | None = None) -> None:
        self.config = config
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        c = self.config
        try:
            smtp: smtplib.SMTP
            if c.implicit_tls:
                smtp = smtplib.SMTP_SSL(
                    c.host,
                    c.port,
                    local_hostname=self.local_hostname,
                    timeout=c.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(c.host, c.port, self.local_hostname, timeout=c.timeout)
            smtp.ehlo()
            if c.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if c.username:
                smtp.login(c.username, c.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentFailure(
                f"login to {c.host}: {_reply(exc.smtp_code, exc.smtp_error)}", exc.smtp_code
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"connect to {c.host}:{c.port}: {exc}") from exc
        self._smtp = smtp
        return smtp

    def send(self, envelope: Envelope, message: bytes) -> None:
        smtp = self._connect()
        options: list[str] = []
        if not (envelope.mail_from.isascii() and envelope.rcpt_to.isascii()):
            # RFC 6531: a UTF-8 address needs SMTPUTF8 end to end.
            if not smtp.has_extn("smtputf8"):
                raise PermanentFailure(
                    f"{envelope.rcpt_to}: a UTF-8 address needs SMTPUTF8 (RFC 6531), "
                    f"which {self.config.host} does not offer"
                )
            options = ["SMTPUTF8"]
            smtp.command_encoding = "utf-8"
        try:
            self._transaction(smtp, envelope, message, options)
        finally:
            smtp.command_encoding = "ascii"

    def _transaction(
        self, smtp: smtplib.SMTP, envelope: Envelope, message: bytes, options: list[str]
    ) -> None:
        try:
            code, text = smtp.mail(envelope.mail_from, options)
            if code != 250:
                self._reset()
                _raise_for(code, text, "MAIL FROM")
            code, text = smtp.rcpt(envelope.rcpt_to)
            if code not in (250, 251):
                self._reset()
                _raise_for(code, text, f"RCPT TO {envelope.rcpt_to}", rcpt=True)
            code, text = smtp.docmd("DATA")
            if code != 354:
                self._reset()
                _raise_for(code, text, "DATA")
            body = _LEADING_DOT.sub(b"..", message)
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body + b".\r\n")
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self._drop()
            raise TemporaryFailure(f"connection lost before the message was sent: {exc}") from exc
        try:
            code, text = smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self._drop()
            raise UnknownOutcome(f"connection lost after the message was sent: {exc}") from exc
        if code != 250:
            _raise_for(code, text, "end of DATA")

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._drop()
