"""A real HTTPS server on loopback, for checks that ask URLs: a throwaway certificate for
127.0.0.1 (made with ``cryptography``), paths whose status a test sets and changes."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Site:
    base: str  # https://127.0.0.1:PORT
    cafile: Path  # the certificate, to trust
    statuses: dict[str, int] = field(default_factory=dict)  # path -> status (default 200)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    no_head: set[str] = field(default_factory=set)  # paths that answer HEAD with 405
    posts: list[tuple[str, bytes]] = field(default_factory=list)  # (path, body) of each POST

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "site.pem", folder / "site.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def https_site(folder: Path) -> Iterator[Site]:
    cert, key = _certificate(folder)
    site = Site("", cert)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bool) -> None:
            path = self.path.split("?")[0]
            if path in site.redirects:
                self.send_response(301)
                self.send_header("Location", site.redirects[path])
            elif self.command == "HEAD" and path in site.no_head:
                self.send_response(405)
            else:
                self.send_response(site.statuses.get(path, 200))
            self.send_header("Content-Length", "2" if body else "0")
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(b"ok")

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            site.posts.append((self.path, self.rfile.read(length)))
            self._answer(body=True)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    site.base = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
