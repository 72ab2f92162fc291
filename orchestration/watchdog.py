"""A distributed run's watch over its Celery workers.

Celery reports a pool process that dies (``WorkerLostError``), but not a worker that vanishes whole (its host
lost, its main process killed): the steps it held are never answered, and dagster-celery's executor would wait
for them forever. :class:`WorkerWatch` listens to the workers' events (workers started with ``-E``): each task a
worker receives, each task it finishes, its heartbeat every 2 s. A worker whose heartbeat stops for longer than
``timeout`` gets the steps it still holds marked failed in the result backend, so the executor sees them fail,
starts nothing more and fails the run (nothing is published; a rerun completes on the workers left).
"""

from __future__ import annotations

import threading
import time

from celery import Celery
from celery.exceptions import WorkerLostError

FINISHED = {"task-succeeded", "task-failed", "task-revoked", "task-rejected"}


class WorkerWatch:
    """Context manager: watches the workers of ``broker`` while the block runs.

    Parameters
    ----------
    broker, backend : str
        The Celery broker and result backend of the run's executor.
    timeout : float
        Seconds a worker may go without a heartbeat before its steps are failed. A worker's heartbeat comes
        from its main process while its pool process computes, so this is about a lost host, not a slow step.
    interval : float
        Seconds between two checks of the heartbeats.
    """

    def __init__(self, broker: str, backend: str, timeout: float = 60.0, interval: float = 1.0):
        self.app = Celery("safetywash-watch", broker=broker, backend=backend)
        self.timeout, self.interval = timeout, interval
        self.lost: list[str] = []
        self._seen: dict[str, float] = {}  # worker -> when it was last heard
        self._holder: dict[str, str] = {}  # task id -> the worker that received it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._receiver = None
        self._listening = threading.Event()
        self._threads = [
            threading.Thread(target=self._listen, daemon=True, name="safetywash-worker-events"),
            threading.Thread(target=self._check, daemon=True, name="safetywash-worker-watch"),
        ]

    def __enter__(self) -> WorkerWatch:
        for thread in self._threads:
            thread.start()
        self._listening.wait(timeout=10)  # subscribed before the run submits its first step
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._receiver is not None:
            self._receiver.should_stop = True
        for thread in self._threads:
            thread.join(timeout=5)

    def _on_event(self, event: dict) -> None:
        with self._lock:
            worker = event.get("hostname")
            if worker and worker not in self.lost:
                self._seen[worker] = time.monotonic()
            if event["type"] == "task-received":
                self._holder[event["uuid"]] = worker
            elif event["type"] in FINISHED:
                self._holder.pop(event["uuid"], None)

    def _listen(self) -> None:
        with self.app.connection_for_read() as connection:
            receiver = self.app.events.Receiver(connection, handlers={"*": self._on_event})
            subscribed = receiver.on_consume_ready

            def on_consume_ready(*args, **kwargs):
                subscribed(*args, **kwargs)
                self._listening.set()

            receiver.on_consume_ready = on_consume_ready
            receiver.should_stop = self._stop.is_set()
            self._receiver = receiver
            receiver.capture(limit=None, timeout=None, wakeup=True)

    def _check(self) -> None:
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            with self._lock:
                silent = [w for w, at in self._seen.items() if now - at > self.timeout]
                for worker in silent:
                    del self._seen[worker]
                    self.lost.append(worker)
                held = [(task, w) for task, w in self._holder.items() if w in silent]
                for task, _ in held:
                    del self._holder[task]
            for task, worker in held:
                self.app.backend.mark_as_failure(
                    task,
                    WorkerLostError(
                        f"Celery worker {worker} has not been heard from for {self.timeout:.0f} s (host lost or worker "
                        "killed) while it held this step"
                    ),
                )
