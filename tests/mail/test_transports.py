"""Transports against real peers: a loopback SMTP server (aiosmtpd), a socket that hangs up
after DATA, and the outbox folder."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from newsletter.config import SmtpConfig
from newsletter.mail.outbox import OutboxTransport
from newsletter.mail.smtp import SmtpTransport
from newsletter.mail.transport import (
    Envelope,
    PermanentFailure,
    TemporaryFailure,
    UnknownOutcome,
)
from tests.helpers.env import free_port
from tests.helpers.smtp import Recorder

MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n"


def envelope(rcpt: str) -> Envelope:
    return Envelope("bounces@example.com", rcpt, "<m1@example.com>")


def test_smtp_sends_over_one_reused_connection(smtp_server: tuple[Recorder, int]) -> None:
    handler, port = smtp_server
    transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=5))
    try:
        for i in range(3):
            transport.send(envelope(f"user{i}@example.com"), MESSAGE)
    finally:
        transport.close()
    assert handler.sessions == 1
    assert [m[1] for m in handler.messages] == [[f"user{i}@example.com"] for i in range(3)]
    assert handler.messages[0][0] == "bounces@example.com"
    assert handler.messages[0][2] == MESSAGE  # dot-stuffing undone by the server


def test_smtp_sorts_replies_into_temporary_and_permanent(smtp_server: tuple[Recorder, int]) -> None:
    handler, port = smtp_server
    transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=5))
    try:
        with pytest.raises(TemporaryFailure) as busy:
            transport.send(envelope("busy@example.com"), MESSAGE)
        assert busy.value.code == 451
        with pytest.raises(PermanentFailure) as nobody:
            transport.send(envelope("nobody@example.com"), MESSAGE)
        assert nobody.value.code == 550
        assert nobody.value.hard_bounce
        transport.send(envelope("fine@example.com"), MESSAGE)  # the connection survived
    finally:
        transport.close()
    assert [m[1] for m in handler.messages] == [["fine@example.com"]]
    assert handler.sessions == 1


def test_smtp_connection_refused_is_temporary() -> None:
    port = free_port()
    transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=2))
    with pytest.raises(TemporaryFailure, match=r"connect to 127\.0\.0\.1"):
        transport.send(envelope("a@example.com"), MESSAGE)


def _hang_up_after_data(listener: socket.socket) -> None:
    connection, _ = listener.accept()
    with connection:
        stream = connection.makefile("rb")
        connection.sendall(b"220 test ESMTP\r\n")
        while line := stream.readline():
            command = line.strip().upper()
            if command.startswith((b"EHLO", b"HELO")):
                connection.sendall(b"250 test\r\n")
            elif command.startswith((b"MAIL", b"RCPT")):
                connection.sendall(b"250 ok\r\n")
            elif command == b"DATA":
                connection.sendall(b"354 go ahead\r\n")
                while stream.readline() not in (b".\r\n", b""):
                    pass
                return  # the message is in, but no reply: hang up


def test_connection_lost_after_the_final_dot_is_unknown() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    thread = threading.Thread(target=_hang_up_after_data, args=(listener,), daemon=True)
    thread.start()
    transport = SmtpTransport(SmtpConfig("127.0.0.1", listener.getsockname()[1], timeout=5))
    try:
        with pytest.raises(UnknownOutcome, match="after the message was sent"):
            transport.send(envelope("a@example.com"), MESSAGE)
    finally:
        transport.close()
        listener.close()
        thread.join(timeout=5)


def test_outbox_writes_atomically_and_a_resend_replaces(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "outbox")
    outbox.send(envelope("Zoë+news@example.com"), b"first")
    outbox.send(envelope("Zoë+news@example.com"), b"second")
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["m1--Zo_+news_at_example.com.eml"]
    assert (tmp_path / "outbox" / files[0]).read_bytes() == b"second"


def test_outbox_that_cannot_be_written_is_a_temporary_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file, not a folder")
    with pytest.raises(TemporaryFailure, match="outbox"):
        OutboxTransport(blocker).send(envelope("a@example.com"), b"x")


def test_utf8_addresses_need_smtputf8(smtp_server: tuple[Recorder, int]) -> None:
    handler, port = smtp_server  # aiosmtpd offers SMTPUTF8 by default
    transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=5))
    try:
        transport.send(envelope("élise@example.fr"), "To: élise@example.fr\r\n\r\nhi\r\n".encode())
        transport.send(envelope("plain@example.com"), MESSAGE)  # back to ASCII commands
    finally:
        transport.close()
    assert [m[1] for m in handler.messages] == [["élise@example.fr"], ["plain@example.com"]]
    old_port = free_port()
    old = Controller(Recorder(), hostname="127.0.0.1", port=old_port, enable_SMTPUTF8=False)
    old.start()
    transport = SmtpTransport(SmtpConfig("127.0.0.1", old_port, timeout=5))
    try:
        with pytest.raises(PermanentFailure, match="SMTPUTF8"):
            transport.send(envelope("élise@example.fr"), MESSAGE)
    finally:
        transport.close()
        old.stop()
