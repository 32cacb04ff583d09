"""How batches reach workers: in this process (embedded default) or through Celery.

Both dispatchers run the same batch function (``Sender.run_batch``); they differ only in
where. A batch task takes an issue id and claims whatever rows are due, so the number of
dispatched batches is a hint for parallelism, never a list of recipients. Whoever makes a
dispatcher closes it: ``close`` releases what it holds (the in-process sender's connection).

In this process, SIGINT (Ctrl+C) and SIGTERM ask the running batch to stop: it finishes the
message in flight, hands its unsent rows back to the queue and :class:`Interrupted` is raised,
so no row is left ``sending`` for a lease to free. A second signal interrupts at once (the
rows still go back; the message cut short may have arrived, like a killed worker's).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol

from newsletter.config import redact_url
from newsletter.errors import WorkError

# Publishing a batch may wait this long for the broker, in all (kombu's own retries are
# bounded by it too): a command must fail with a reason, not hang (issue 13, item 6).
BROKER_TIMEOUT = 3.0


class Dispatcher(Protocol):
    """What the code that starts work needs: hand ``batches`` batch runs of an issue over."""

    def dispatch(self, issue_id: int, batches: int) -> None: ...


class Interrupted(WorkError):
    """A signal stopped an in-process send; the unsent rows are back in the queue."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name}: the messages not yet sent went back to the queue, none is "
            "left in flight; sending the issue again continues it"
        )


class BrokerUnavailable(WorkError):
    """Work could not be handed to the broker (named without its password)."""

    def __init__(self, broker: str, reason: str) -> None:
        self.broker = redact_url(broker)
        self.reason = " ".join(reason.split()).rstrip(".") or "no reason given"
        super().__init__(f"broker {self.broker}: cannot queue work: {self.reason}")


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[list[int]]:
    """While inside, SIGINT and SIGTERM call ``stop`` (the first one) and are recorded in the
    yielded list; a second one raises :class:`KeyboardInterrupt`. Only the main thread can
    own signal handlers: elsewhere this does nothing."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class InlineDispatcher:
    """Runs batches one after another in this process until no due row is left."""

    def __init__(
        self,
        run_batch: Callable[[int], int],
        on_close: Callable[[], None] | None = None,
        on_signal: Callable[[], None] | None = None,
    ) -> None:
        self._run_batch = run_batch  # returns how many rows it claimed
        self._on_close = on_close
        self._on_signal = on_signal  # asks the running batch to stop (Sender.request_stop)

    def dispatch(self, issue_id: int, batches: int) -> None:
        if self._on_signal is None:
            while self._run_batch(issue_id):
                pass
            return
        with stop_on_signals(self._on_signal) as received:
            while not received and self._run_batch(issue_id):
                pass
        if received:
            raise Interrupted(received[0])

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()


class CeleryDispatcher:
    """Queues ``batches`` delivery tasks on the broker; :class:`BrokerUnavailable` (within
    about :data:`BROKER_TIMEOUT` seconds) when it cannot be reached."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def _refusals(self) -> tuple[type[BaseException], ...]:
        """What the broker's client raises when it cannot take work: kombu's OperationalError,
        socket errors, and the transport's own connection and channel errors (RabbitMQ refuses
        a wrong password or an unknown vhost with amqp's AccessRefused and NotAllowed, which
        are neither of the first two)."""
        from kombu.exceptions import OperationalError  # Celery's own dependency

        connection = self._app.connection_for_write()  # not connected: it names the transport
        try:
            found = (*connection.connection_errors, *connection.channel_errors)
        finally:
            connection.release()
        return (OperationalError, OSError, *found)

    def check(self) -> None:
        """Connect to the broker once (within :data:`BROKER_TIMEOUT`), so that a send can be
        refused before anything changes when the broker is down."""
        try:
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
        except self._refusals() as exc:
            raise BrokerUnavailable(self._app.conf.broker_url or "", str(exc)) from exc

    def dispatch(self, issue_id: int, batches: int) -> None:
        task = self._app.tasks["newsletter.deliver_batch"]
        policy = {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": BROKER_TIMEOUT / 6,
            "interval_max": BROKER_TIMEOUT / 6,
        }
        try:
            for _ in range(batches):
                task.apply_async((issue_id,), retry=True, retry_policy=policy)
        except self._refusals() as exc:
            raise BrokerUnavailable(self._app.conf.broker_url or "", str(exc)) from exc

    def close(self) -> None:
        return None
