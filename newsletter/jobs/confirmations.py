"""Confirmation mail, handed over after the commit that stored the sign-up.

With a broker, a Celery task (``newsletter.send_confirmation``) takes the subscriber's id and
sends the mail from a worker. Without one, the mail is sent in this process through a
transport made for that one mail and closed after it: two threads never share an SMTP
connection (a transport is not thread-safe). The web app puts either behind a
:class:`ConfirmationQueue`, so that a request never waits for a broker or a mail server.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.mail.transport import Transport
from newsletter.models import utcnow
from newsletter.subscribers.signup import send_confirmation, withdraw_request
from newsletter.tokens import Signer

log = logging.getLogger(__name__)
TASK = "newsletter.send_confirmation"


@dataclass(frozen=True)
class Handed:
    """What became of one confirmation: sent here, queued for a worker, or refused."""

    sent: bool = False
    queued: bool = False
    error: str | None = None


class Confirmations(Protocol):
    def submit(self, subscriber_id: int) -> Handed: ...


class InlineConfirmations:
    """Sends each confirmation now, in this thread, on a transport of its own."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        signer: Signer,
        transport: Callable[[], Transport],
    ) -> None:
        self._factory, self._settings, self._signer = factory, settings, signer
        self._transport = transport

    def submit(self, subscriber_id: int) -> Handed:
        transport = self._transport()
        try:
            error = send_confirmation(
                self._factory, self._settings, self._signer, transport, subscriber_id, utcnow()
            )
        finally:
            transport.close()
        return Handed(sent=error is None, error=error)


class CeleryConfirmations:
    """Queues each confirmation for a worker."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def submit(self, subscriber_id: int) -> Handed:
        self._app.tasks[TASK].delay(subscriber_id)
        return Handed(queued=True)


class ConfirmationQueue:
    """Hands each confirmation over *after* the request, from one thread of this process.

    The sign-up form must answer with the same status, page and time whatever the address:
    an answer that waits for SMTP only when a mail goes out tells anyone which addresses are
    on the list. So a request only puts the subscriber's id here and answers; one daemon
    thread takes the ids in order and hands each to ``inner`` (sent on a transport of its
    own, or queued for a Celery worker). A hand-over that fails withdraws that request, so
    the person may ask again at once, and is logged. The queue is bounded: when it is full,
    :meth:`submit` raises and the caller withdraws the request the same way.

    :meth:`close` lets the thread finish what is queued (at most ``timeout`` seconds) and
    stops it; it also runs at interpreter exit.
    """

    def __init__(
        self, inner: Confirmations, factory: sessionmaker[Session], *, capacity: int = 10_000
    ) -> None:
        self._inner, self._factory = inner, factory
        self._queue: queue.Queue[int | None] = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, subscriber_id: int) -> Handed:
        with self._lock:
            if self._closed:
                raise RuntimeError("the confirmation queue is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name="confirmations", daemon=True
                )
                self._thread.start()
                atexit.register(self.close)
            try:  # under the lock: nothing can be queued behind close()'s stop marker
                self._queue.put_nowait(subscriber_id)
            except queue.Full:
                raise RuntimeError("too many confirmations are waiting to be sent") from None
        return Handed(queued=True)

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until every queued confirmation was handed over; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Send what is queued (waiting at most ``timeout`` seconds), then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        atexit.unregister(self.close)
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        # What the thread could not send in time is withdrawn, so those people may ask again
        # at once instead of waiting out the hourly throttle for a mail that never left.
        left = 0
        while True:
            try:
                subscriber_id = self._queue.get_nowait()
            except queue.Empty:
                break
            if subscriber_id is not None:
                left += 1
                withdraw_request(self._factory, subscriber_id)
        if left:
            log.warning(
                "%d confirmation(s) not sent before shutdown; their requests withdrawn", left
            )

    def _drain(self) -> None:
        while True:
            subscriber_id = self._queue.get()
            try:
                if subscriber_id is None:
                    return
                self._hand_over(subscriber_id)
            finally:
                self._queue.task_done()

    def _hand_over(self, subscriber_id: int) -> None:
        try:
            handed = self._inner.submit(subscriber_id)
        except Exception:  # the broker or the mail set-up could not take it
            log.exception("confirmation for subscriber %s not handed over", subscriber_id)
            try:
                withdraw_request(self._factory, subscriber_id)
            except Exception:  # the database too: the hourly throttle then applies
                log.exception("could not withdraw the request of subscriber %s", subscriber_id)
            return
        if handed.error:  # refused by the mail server; send_confirmation withdrew it
            log.warning("confirmation for subscriber %s not sent: %s", subscriber_id, handed.error)
