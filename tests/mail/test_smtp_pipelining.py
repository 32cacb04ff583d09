"""The pipelining SMTP transport against real servers on loopback: a scripted socket server
that records every read (to see what arrived in one packet), aiosmtpd (with PIPELINING added,
AUTH, STARTTLS, implicit TLS) and Postfix's smtp-sink with its fault injection."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from newsletter.config import SmtpConfig
from newsletter.mail.smtp import SmtpTransport, dot_stuff
from newsletter.mail.transport import (
    Envelope,
    PermanentFailure,
    TemporaryFailure,
    UnknownOutcome,
)
from tests.helpers.env import free_port
from tests.helpers.smtp import Recorder

MESSAGE = b"Subject: hi\r\n\r\n.leading dot\r\nbody\r\n"
GROUP = b"MAIL FROM:<bounces@example.com> SIZE=%d\r\nRCPT TO:<%s>\r\nDATA\r\n"


def envelope(rcpt: str) -> Envelope:
    return Envelope("bounces@example.com", rcpt, "<m1@example.com>")


def group(rcpt: str, message: bytes = MESSAGE) -> bytes:
    return GROUP % (len(message), rcpt.encode())


# -- a scripted SMTP server that records each recv() ------------------------------------------
Script = Callable[[str, int], str | None]  # (command line, how many times its verb came) -> reply


class Scripted:
    """Loopback SMTP server, a thread per connection. ``script`` may override any reply:
    "HANGUP" closes without replying; a 421 is sent, then the connection closed. By default
    it answers like a well-behaved RFC 2920 server (DATA without a valid RCPT gets 503)."""

    def __init__(
        self,
        script: Script | None = None,
        extensions: tuple[str, ...] = ("PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 10000000"),
        after_message: str | None = None,  # "close" or "421": hang up once a message is in
    ) -> None:
        self.script = script
        self.extensions = extensions
        self.after_message = after_message
        self.chunks: list[bytes] = []
        self.commands: list[str] = []
        self.messages: list[bytes] = []
        self.sessions = 0
        self.counts: Counter[str] = Counter()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.sessions += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        # a client that hangs up mid-dialogue is something these tests do on purpose
        with contextlib.suppress(ConnectionError), connection:
            buffer = bytearray()  # this connection's unread bytes
            connection.sendall(b"220 scripted ESMTP\r\n")
            mail, recipients = False, 0  # the transaction's state (RFC 5321 3.3)
            while (line := self._read(connection, buffer, b"\r\n")) is not None:
                text = line.decode()
                verb = text[:4].upper() if not text.startswith(".") else "."
                self.commands.append(text)
                self.counts[verb] += 1
                reply = self.script(text, self.counts[verb]) if self.script else None
                reply = reply or self._default(verb, mail, recipients)
                if verb in ("MAIL", "RSET"):
                    mail, recipients = verb == "MAIL" and reply.startswith("25"), 0
                elif verb == "RCPT" and reply.startswith("25"):
                    recipients += 1
                if reply == "HANGUP":
                    return
                connection.sendall(reply.encode() + b"\r\n")
                if reply.startswith(("421", "221")):
                    return
                if verb == "DATA" and reply.startswith("354"):
                    buffer[:0] = b"\r\n"  # so that an empty body ends at "\r\n.\r\n" too
                    body = self._read(connection, buffer, b"\r\n.\r\n")
                    if body is None:
                        return
                    self.messages.append(re.sub(rb"(?m)^\.", b"", body[2:] + b"\r\n"))
                    self.counts["."] += 1
                    final = self.script(".", self.counts["."]) if self.script else None
                    final = final or ("250 2.0.0 queued" if recipients else "554 no recipients")
                    if final == "HANGUP":
                        return
                    connection.sendall(final.encode() + b"\r\n")
                    if self.after_message == "421":
                        connection.sendall(b"421 4.4.2 idle timeout\r\n")
                    if self.after_message:
                        time.sleep(0.05)
                        return

    def _default(self, verb: str, mail: bool, recipients: int) -> str:
        if verb == "EHLO":
            lines = ["scripted", *self.extensions]
            return "\r\n".join(f"250-{x}" for x in lines[:-1]) + f"\r\n250 {lines[-1]}"
        if verb == "RCPT":
            return "250 ok" if mail else "503 5.5.1 MAIL first"
        if verb == "DATA":
            return "354 go ahead" if recipients else "503 5.5.1 no valid recipients"
        return {"QUIT": "221 bye", "HELO": "250 scripted"}.get(verb, "250 ok")

    def _read(self, connection: socket.socket, buffer: bytearray, end: bytes) -> bytes | None:
        while end not in buffer:
            chunk = connection.recv(65536)
            if not chunk:
                return None
            self.chunks.append(chunk)
            buffer += chunk
        index = buffer.index(end)
        line = bytes(buffer[:index])
        del buffer[: index + len(end)]
        return line

    def transport(self) -> SmtpTransport:
        return SmtpTransport(SmtpConfig("127.0.0.1", self.port, timeout=5))


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def start(*args: Any, **kwargs: Any) -> Scripted:
        servers.append(Scripted(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.listener.close()


def test_mail_rcpt_and_data_arrive_in_one_packet(scripted: Callable[..., Scripted]) -> None:
    server = scripted()
    transport = SmtpTransport(SmtpConfig("127.0.0.1", server.port, timeout=5), "client.test")
    try:
        transport.send(envelope("a@example.com"), MESSAGE)
        transport.send(envelope("b@example.com"), MESSAGE)
    finally:
        transport.close()
    body = MESSAGE.replace(b"\r\n.", b"\r\n..") + b".\r\n"  # RFC 5321 4.5.2 dot-stuffing
    # every server read: one for the envelope group, one for the body: two round trips a message
    assert server.chunks == [
        b"EHLO client.test\r\n",
        group("a@example.com"),
        body,
        group("b@example.com"),
        body,
        b"QUIT\r\n",
    ]
    assert server.messages == [MESSAGE, MESSAGE]
    assert server.sessions == 1


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"plain\r\nlines\r\n",
        b".first line\r\n",
        b"a\r\n.b\r\n..c\r\n.\r\n",
        b"bare\n.lf\n",
        b"x" * 5000 + b"\r\n." + b"y" * 100,
    ],
)
def test_dot_stuffing_doubles_every_leading_dot(message: bytes) -> None:
    assert dot_stuff(message) == re.sub(rb"(?m)^\.", b"..", message)  # RFC 5321 4.5.2


class Ready:
    """A ``ready`` hook that notes what the server had received when it was called."""

    def __init__(self, server: Scripted, fail: bool = False) -> None:
        self.server = server
        self.fail = fail
        self.seen: list[list[str]] = []

    def __call__(self) -> None:
        self.seen.append(list(self.server.commands))
        if self.fail:
            raise RuntimeError("the database is gone")


def test_ready_runs_after_the_envelope_and_before_the_content(
    scripted: Callable[..., Scripted],
) -> None:
    server = scripted()
    transport = server.transport()
    ready = Ready(server)
    try:
        transport.send(envelope("a@example.com"), MESSAGE, ready)
    finally:
        transport.close()
    assert len(ready.seen) == 1
    assert server.messages == [MESSAGE]
    # whatever the server had read by then, the content was not part of it
    assert not any(c.startswith(".leading") for c in ready.seen[0])


@pytest.mark.parametrize(
    "extensions", [("PIPELINING",), ("8BITMIME",)], ids=["pipelining", "classic"]
)
def test_a_failing_ready_sends_nothing_and_propagates(
    scripted: Callable[..., Scripted], extensions: tuple[str, ...]
) -> None:
    server = scripted(extensions=extensions)
    transport = server.transport()
    try:
        with pytest.raises(RuntimeError, match="the database is gone"):
            transport.send(envelope("a@example.com"), MESSAGE, Ready(server, fail=True))
        transport.send(envelope("b@example.com"), MESSAGE)  # a fresh connection, all well
    finally:
        transport.close()
    assert server.messages == [MESSAGE]
    assert server.sessions == 2


def test_without_pipelining_one_command_per_packet(scripted: Callable[..., Scripted]) -> None:
    server = scripted(extensions=("8BITMIME",))
    transport = server.transport()
    try:
        transport.send(envelope("a@example.com"), MESSAGE)
    finally:
        transport.close()
    assert b"MAIL FROM:<bounces@example.com>\r\n" in server.chunks
    assert b"RCPT TO:<a@example.com>\r\n" in server.chunks
    assert b"DATA\r\n" in server.chunks
    assert server.messages == [MESSAGE]


@pytest.mark.parametrize(
    ("reply", "outcome", "hard_bounce"),
    [
        ("451 4.3.0 busy", TemporaryFailure, False),
        ("550 5.1.1 no such user", PermanentFailure, True),
        ("553 5.1.3 bad address", PermanentFailure, True),
        # a policy block is permanent for this message, but not the address's fault
        ("550 5.7.1 refused by policy", PermanentFailure, False),
        # RFC 5321 4.5.3.1.10: a 552 to RCPT TO is read as 452 (RFC 3463: X.2.2 mailbox full
        # is "persistent transient"), the same verdict bounce processing gives a 5.2.2
        ("552 5.2.2 mailbox full", TemporaryFailure, False),
    ],
)
def test_refused_rcpt_in_a_group_is_reset_and_sorted(
    scripted: Callable[..., Scripted], reply: str, outcome: type[Exception], hard_bounce: bool
) -> None:
    server = scripted(lambda line, n: reply if line.startswith("RCPT TO:<no") else None)
    transport = server.transport()
    try:
        with pytest.raises(outcome) as caught:
            transport.send(envelope("nobody@example.com"), MESSAGE)
        assert getattr(caught.value, "code", None) == int(reply[:3])
        assert getattr(caught.value, "hard_bounce", False) is hard_bounce
        assert "RCPT TO nobody@example.com" in str(caught.value)
        transport.send(envelope("fine@example.com"), MESSAGE)  # the connection survived
    finally:
        transport.close()
    assert group("nobody@example.com") in server.chunks
    assert server.commands[3:5] == ["DATA", "RSET"]
    assert server.messages == [MESSAGE]
    assert server.sessions == 1


def test_refused_mail_is_reported_for_mail_not_rcpt(scripted: Callable[..., Scripted]) -> None:
    server = scripted(lambda line, n: "553 5.1.8 bad sender" if line.startswith("MAIL") else None)
    transport = server.transport()
    try:
        with pytest.raises(PermanentFailure, match=r"^MAIL FROM: 553") as caught:
            transport.send(envelope("a@example.com"), MESSAGE)
        assert not caught.value.hard_bounce  # a bad sender is not the recipient's bounce
    finally:
        transport.close()
    assert "RSET" in server.commands


def test_data_accepted_despite_no_recipient_gets_a_lone_dot(
    scripted: Callable[..., Scripted],
) -> None:
    def broken(line: str, n: int) -> str | None:
        if line.startswith("RCPT"):
            return "550 5.1.1 no such user"
        return "354 go ahead anyway" if line == "DATA" else None

    server = scripted(broken)
    transport = server.transport()
    try:
        with pytest.raises(PermanentFailure, match="RCPT TO"):
            transport.send(envelope("a@example.com"), MESSAGE)
    finally:
        transport.close()
    assert server.messages == [b"\r\n"]  # RFC 2920 3.1: a single dot, not the message
    assert server.commands[-2:] == ["RSET", "QUIT"]


def test_421_is_temporary_and_drops_the_connection(scripted: Callable[..., Scripted]) -> None:
    server = scripted(
        lambda line, n: "421 4.3.2 shutting down" if n == 1 and "RCPT" in line else None
    )
    transport = server.transport()
    try:
        with pytest.raises(TemporaryFailure, match="421") as caught:
            transport.send(envelope("a@example.com"), MESSAGE)
        assert caught.value.code == 421
        transport.send(envelope("b@example.com"), MESSAGE)
    finally:
        transport.close()
    assert server.sessions == 2
    assert server.messages == [MESSAGE]


@pytest.mark.parametrize("how", ["close", "421"])
def test_idle_connection_closed_by_the_server_is_replaced(
    scripted: Callable[..., Scripted], how: str
) -> None:
    server = scripted(after_message=how)
    transport = server.transport()
    try:
        transport.send(envelope("a@example.com"), MESSAGE)
        time.sleep(0.2)  # the server hangs up while the connection sits in the pool
        transport.send(envelope("b@example.com"), MESSAGE)
    finally:
        transport.close()
    assert server.sessions == 2
    assert len(server.messages) == 2


def test_pooled_connection_dead_before_the_dot_is_retried_once(
    scripted: Callable[..., Scripted],
) -> None:
    # the second MAIL hits a connection that dies without a word (a NAT dropped it, say)
    server = scripted(lambda line, n: "HANGUP" if line.startswith("MAIL") and n == 2 else None)
    transport = server.transport()
    try:
        transport.send(envelope("a@example.com"), MESSAGE)
        transport.send(envelope("b@example.com"), MESSAGE)
    finally:
        transport.close()
    assert server.sessions == 2
    assert len(server.messages) == 2


def test_a_fresh_connection_that_dies_is_not_retried(scripted: Callable[..., Scripted]) -> None:
    server = scripted(lambda line, n: "HANGUP" if line.startswith("MAIL") and n >= 2 else None)
    transport = server.transport()
    try:
        transport.send(envelope("a@example.com"), MESSAGE)
        with pytest.raises(TemporaryFailure, match="before the message was sent"):
            transport.send(envelope("b@example.com"), MESSAGE)
    finally:
        transport.close()
    assert server.sessions == 2  # the pooled connection, then one fresh one: no third try


def test_lost_after_the_dot_is_unknown_and_not_retried(scripted: Callable[..., Scripted]) -> None:
    server = scripted(lambda line, n: "HANGUP" if line == "." and n == 2 else None)
    transport = server.transport()
    try:
        transport.send(envelope("a@example.com"), MESSAGE)
        with pytest.raises(UnknownOutcome, match="after the message was sent"):
            transport.send(envelope("b@example.com"), MESSAGE)
    finally:
        transport.close()
    assert server.sessions == 1
    assert server.counts["MAIL"] == 2


def test_smtputf8_and_8bitmime_parameters(scripted: Callable[..., Scripted]) -> None:
    server = scripted()
    message = "Subject: café\r\n\r\nhi\r\n".encode()
    transport = server.transport()
    try:
        transport.send(envelope("élise@example.fr"), message)
        transport.send(envelope("plain@example.com"), MESSAGE)
    finally:
        transport.close()
    size = len(message)
    assert f"MAIL FROM:<bounces@example.com> SMTPUTF8 BODY=8BITMIME SIZE={size}" in server.commands
    assert f"MAIL FROM:<bounces@example.com> SIZE={len(MESSAGE)}" in server.commands
    assert server.messages == [message, MESSAGE]


def test_ehlo_refused_falls_back_to_helo(scripted: Callable[..., Scripted]) -> None:
    server = scripted(lambda line, n: "502 5.5.1 what?" if line.startswith("EHLO") else None)
    transport = SmtpTransport(SmtpConfig("127.0.0.1", server.port, timeout=5), "client.test")
    try:
        transport.send(envelope("a@example.com"), MESSAGE)
    finally:
        transport.close()
    assert server.commands[:3] == [
        "EHLO client.test",
        "HELO client.test",
        "MAIL FROM:<bounces@example.com>",
    ]
    assert server.messages == [MESSAGE]


def test_starttls_required_but_not_offered(scripted: Callable[..., Scripted]) -> None:
    server = scripted()
    config = SmtpConfig("127.0.0.1", server.port, starttls=True, timeout=5)
    with pytest.raises(TemporaryFailure, match="STARTTLS"):
        SmtpTransport(config).send(envelope("a@example.com"), MESSAGE)
    assert "MAIL" not in server.counts


def test_address_with_a_line_break_is_refused(scripted: Callable[..., Scripted]) -> None:
    server = scripted()
    transport = server.transport()
    with pytest.raises(ValueError, match="line break"):
        transport.send(envelope("a@example.com>\r\nRCPT TO:<b@example.com"), MESSAGE)
    assert server.counts["RCPT"] == 0


# -- aiosmtpd: PIPELINING advertised, AUTH, TLS ----------------------------------------------
class PipeliningRecorder(Recorder):
    """aiosmtpd 1.4 handles pipelined commands but does not announce it: add the keyword."""

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


def start(handler: Recorder, **kwargs: Any) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, port


def test_aiosmtpd_with_pipelining_sorts_outcomes() -> None:
    handler = PipeliningRecorder()
    controller, port = start(handler)
    transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=5))
    try:
        transport.send(envelope("one@example.com"), MESSAGE)
        with pytest.raises(TemporaryFailure) as busy:
            transport.send(envelope("busy@example.com"), MESSAGE)
        assert busy.value.code == 451
        with pytest.raises(PermanentFailure) as nobody:
            transport.send(envelope("nobody@example.com"), MESSAGE)
        assert nobody.value.hard_bounce
        transport.send(envelope("élise@example.fr"), "Subject: é\r\n\r\nhi\r\n".encode())
        transport.send(envelope("two@example.com"), MESSAGE)
    finally:
        transport.close()
        controller.stop()
    rcpts = [m[1] for m in handler.messages]
    assert rcpts == [["one@example.com"], ["élise@example.fr"], ["two@example.com"]]
    assert handler.messages[0][2] == MESSAGE
    assert handler.sessions == 1


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data == (b"digest", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535


@pytest.mark.parametrize("exclude", [[], ["PLAIN"]], ids=["plain", "login"])
def test_auth(exclude: list[str]) -> None:
    handler = PipeliningRecorder()
    controller, port = start(
        handler,
        authenticator=_authenticator,
        auth_require_tls=False,
        auth_exclude_mechanism=exclude,
    )
    good = SmtpConfig("127.0.0.1", port, username="digest", password="s3cret", timeout=5)
    bad = SmtpConfig("127.0.0.1", port, username="digest", password="wrong", timeout=5)
    try:
        transport = SmtpTransport(good)
        transport.send(envelope("a@example.com"), MESSAGE)
        transport.close()
        with pytest.raises(TemporaryFailure, match=r"login to 127\.0\.0\.1") as refused:
            SmtpTransport(bad).send(envelope("a@example.com"), MESSAGE)
        assert refused.value.code == 535
    finally:
        controller.stop()
    assert [m[1] for m in handler.messages] == [["a@example.com"]]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_tls(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    cert, key = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    handler = PipeliningRecorder()
    if mode == "starttls":
        controller, port = start(handler, tls_context=server_context, require_starttls=True)
    else:
        controller, port = start(handler, ssl_context=server_context)
    # the transport verifies with ssl.create_default_context(): make it trust the test CA
    monkeypatch.setattr(ssl, "create_default_context", lambda: client_context)
    config = SmtpConfig(
        "127.0.0.1", port, starttls=mode == "starttls", implicit_tls=mode == "implicit", timeout=5
    )
    transport = SmtpTransport(config)
    try:
        transport.send(envelope("a@example.com"), MESSAGE)
        transport.send(envelope("b@example.com"), MESSAGE)
    finally:
        transport.close()
        controller.stop()
    assert [m[1] for m in handler.messages] == [["a@example.com"], ["b@example.com"]]


# -- Postfix smtp-sink: volume and fault injection (man smtp-sink) ----------------------------
SMTP_SINK = shutil.which("smtp-sink") or shutil.which("/usr/sbin/smtp-sink")


@pytest.fixture
def sink() -> Iterator[Callable[..., tuple[subprocess.Popen[str], int]]]:
    if SMTP_SINK is None:
        pytest.skip("smtp-sink is not installed (Debian package postfix)")
    processes: list[subprocess.Popen[str]] = []

    def run(*flags: str) -> tuple[subprocess.Popen[str], int]:
        port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # required when run as root
        process = subprocess.Popen(
            [SMTP_SINK, "-c", *user, *flags, f"127.0.0.1:{port}", "100"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return process, port
            except OSError:
                time.sleep(0.02)
        pytest.fail(f"smtp-sink did not start on port {port}")

    yield run
    for process in processes:
        if process.returncode is None:
            process.terminate()
            process.communicate(timeout=5)


def counters(process: subprocess.Popen[str]) -> str:
    """Stop smtp-sink and return its last "sess=... quit=... mesg=..." counter line (-c)."""
    process.terminate()
    output, _ = process.communicate(timeout=5)
    return output.replace("\r", "\n").strip().splitlines()[-1]


def test_smtp_sink_takes_1000_messages_over_one_connection(
    sink: Callable[..., tuple[subprocess.Popen[str], int]],
) -> None:
    process, port = sink()
    message = MESSAGE + b"x" * 76 + b"\r\n" * 40
    transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=10))
    try:
        for i in range(1000):
            transport.send(envelope(f"user{i}@example.com"), message)
        assert transport._conn is not None
        assert "PIPELINING" in transport._conn.extensions  # the pipelined path was used
    finally:
        transport.close()
    assert counters(process) == "sess=2 quit=1 mesg=1000"  # one session is the readiness probe


@pytest.mark.parametrize(
    ("flags", "outcome", "code", "match"),
    [
        (["-r", "RCPT"], TemporaryFailure, 450, "RCPT TO"),  # -r implies -p: no PIPELINING
        (["-f", "RCPT"], PermanentFailure, 500, "RCPT TO"),
        (["-f", "RCPT", "-B", "550 5.1.1 no such user"], PermanentFailure, 550, "RCPT TO"),
        (["-f", "MAIL"], PermanentFailure, 500, "MAIL FROM"),
        (["-r", "."], TemporaryFailure, 450, "end of DATA"),
        (["-Q", "RCPT"], TemporaryFailure, 421, "RCPT TO"),  # pipelined: 421 to RCPT
        (["-q", "MAIL"], TemporaryFailure, None, "before the message was sent"),
        (["-q", "."], UnknownOutcome, None, "after the message was sent"),
        (["-A", "0"], PermanentFailure, 550, "end of DATA"),  # 550 instead of reading the body
    ],
)
def test_smtp_sink_fault_injection(
    sink: Callable[..., tuple[subprocess.Popen[str], int]],
    flags: list[str],
    outcome: type[Exception],
    code: int | None,
    match: str | None,
) -> None:
    _, port = sink(*flags)
    transport = SmtpTransport(SmtpConfig("127.0.0.1", port, timeout=5))
    try:
        with pytest.raises(outcome, match=match) as caught:
            transport.send(envelope("a@example.com"), MESSAGE)
    finally:
        transport.close()
    assert getattr(caught.value, "code", None) == code
    bounce = getattr(caught.value, "hard_bounce", False)
    assert bounce is (code == 550 and match == "RCPT TO")
