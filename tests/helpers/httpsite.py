"""A real HTTP server on loopback, in a thread, serving scripted answers per path.

Each route is a function of the request (method, path with query, headers) returning status,
headers and body, so a test can script 304s, redirects, failures then success, slow answers
and oversized bodies. Every request is recorded for assertions.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    path: str  # with the query string
    headers: dict[str, str]


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before the status line
    chunks: Iterator[bytes] | None = None  # streamed without Content-Length when set


Route = Callable[[Request], Answer]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up (a size cap, a timeout) are part of the tests, not errors."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Site:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()})
                site.requests.append(request)
                route = site.routes.get(urlsplit(self.path).path)
                answer = route(request) if route else Answer(404, body=b"not here")
                time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    if answer.chunks is None:
                        self.send_header("Content-Length", str(len(answer.body)))
                        self.end_headers()
                        self.wfile.write(answer.body)
                    else:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for chunk in answer.chunks:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a size cap or a timeout): expected

            def log_message(self, *_args: object) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Site:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if urlsplit(r.path).path == path]


def static(
    body: bytes, content_type: str, etag: str | None = None, modified: str | None = None
) -> Route:
    """A resource with validators that answers 304 to a matching conditional GET."""

    def route(request: Request) -> Answer:
        headers = {"Content-Type": content_type}
        if etag:
            headers["ETag"] = etag
        if modified:
            headers["Last-Modified"] = modified
        if etag and request.headers.get("if-none-match") == etag:
            return Answer(304, headers)
        if not etag and modified and request.headers.get("if-modified-since") == modified:
            return Answer(304, headers)
        return Answer(200, headers, body)

    return route
