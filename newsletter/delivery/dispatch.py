"""How batches reach workers: in this process (embedded default) or through Celery.

Both dispatchers run the same batch function (``Sender.run_batch``); they differ only in
where. A batch task takes an issue id and claims whatever rows are due, so the number of
dispatched batches is a hint for parallelism, never a list of recipients. Whoever makes a
dispatcher closes it: ``close`` releases what it holds (the in-process sender's connection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Dispatcher(Protocol):
    """What the code that starts work needs: hand ``batches`` batch runs of an issue over."""

    def dispatch(self, issue_id: int, batches: int) -> None: ...


class InlineDispatcher:
    """Runs batches one after another in this process until no due row is left."""

    def __init__(
        self, run_batch: Callable[[int], int], on_close: Callable[[], None] | None = None
    ) -> None:
        self._run_batch = run_batch  # returns how many rows it claimed
        self._on_close = on_close

    def dispatch(self, issue_id: int, batches: int) -> None:
        while self._run_batch(issue_id):
            pass

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()


class CeleryDispatcher:
    """Queues ``batches`` delivery tasks on the broker."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def dispatch(self, issue_id: int, batches: int) -> None:
        task = self._app.tasks["newsletter.deliver_batch"]
        for _ in range(batches):
            task.delay(issue_id)

    def close(self) -> None:
        return None
