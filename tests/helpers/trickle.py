"""A hostile HTTP server on loopback: it answers, but a line (or a byte) at a time.

``Trickle(lines)`` accepts connections in a thread and, to each request, writes the status line
and then one header line every ``every`` seconds, ``lines`` of them, then an empty body; with
``body_bytes`` it ends the headers at once and trickles the body a byte at a time instead. A
client without a deadline for the whole request sits through all of it.
"""

from __future__ import annotations

import socket
import threading
import time


class Trickle:
    def __init__(self, lines: int = 100, every: float = 0.2, body_bytes: int = 0) -> None:
        self.lines, self.every, self.body_bytes = lines, every, body_bytes
        self.requests = 0
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/feed/"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            self.requests += 1
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                if self.body_bytes:
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {self.body_bytes}\r\n"
                    connection.sendall(f"{head}Content-Type: text/plain\r\n\r\n".encode())
                    chunks = [b"x"] * self.body_bytes
                else:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n")
                    chunks = [b"X-Slow-%d: yes\r\n" % n for n in range(self.lines)]
                    chunks.append(b"Content-Length: 0\r\n\r\n")
                for chunk in chunks:
                    if self._stop.wait(self.every):
                        return
                    connection.sendall(chunk)
                time.sleep(0.1)
            except OSError:
                return  # the client gave up: what a deadline is for
