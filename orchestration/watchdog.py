"""A distributed run's watch over its Celery workers.

Celery reports a pool process that dies (``WorkerLostError``), but not a worker that vanishes whole (its host
lost, its main process killed): the steps it held are never answered, and dagster-celery's executor would wait
for them forever. :class:`WorkerWatch` asks the workers what they hold every few seconds; a worker silent for
longer than ``timeout`` gets its steps marked failed in the result backend, so the executor sees them fail, runs
nothing more and fails the run (nothing is published; a rerun completes on the workers left).
"""

from __future__ import annotations

import threading
import time

from celery import Celery
from celery.exceptions import WorkerLostError


class WorkerWatch:
    """Context manager: watches the workers of ``broker`` while the block runs.

    Parameters
    ----------
    broker, backend : str
        The Celery broker and result backend of the run's executor.
    timeout : float
        Seconds a worker may go without answering before its steps are failed. A worker answers while its
        pool process computes (the main process replies), so this is about a lost host, not a slow step.
    interval : float
        Seconds between two rounds of questions.
    """

    def __init__(self, broker: str, backend: str, timeout: float = 60.0, interval: float = 2.0):
        self.broker, self.backend, self.timeout, self.interval = broker, backend, timeout, interval
        self.lost: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="safetywash-worker-watch", daemon=True)

    def __enter__(self) -> WorkerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        app = Celery("safetywash-watch", broker=self.broker, backend=self.backend)
        seen: dict[str, float] = {}
        held: dict[str, set[str]] = {}
        while not self._stop.wait(self.interval):
            inspect = app.control.inspect(timeout=1.0)
            replies = {}
            for answer in (inspect.active(), inspect.reserved()):
                for worker, tasks in (answer or {}).items():
                    replies.setdefault(worker, set()).update(task["id"] for task in tasks)
            now = time.monotonic()
            for worker, tasks in replies.items():
                seen[worker], held[worker] = now, tasks
            for worker in [w for w, at in seen.items() if now - at > self.timeout]:
                for task_id in held.pop(worker, set()):
                    app.backend.mark_as_failure(task_id, WorkerLostError(
                        f"Celery worker {worker} has not answered for {self.timeout:.0f} s (host lost or worker "
                        "killed) while it held this step"))
                del seen[worker]
                self.lost.append(worker)
