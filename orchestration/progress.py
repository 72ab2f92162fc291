"""The CLI's progress display: steps done of total, the step running, elapsed time; the full log to a file.

A Dagster logger (``progress``, in the Definitions) receives every event of a run; the CLI turns it on in the
run config and installs a :class:`Progress` that draws one line (redrawn in place on a terminal, a line every
few seconds otherwise) and writes every log line to the log file. Runs launched without it (the UI, the
schedule) log to the console as usual.

The log file is a convenience, never a reason to fail a run: when it cannot be written (a full disk, say)
the handler stops writing it and remembers why (:attr:`Progress.log_error`), and the run goes on.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from pathlib import Path
from typing import IO

import dagster as dg

_DONE = {"STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"}
_active: "Progress | None" = None
_lock = threading.Lock()


class Progress(logging.Handler):
    """Counts a run's steps from its Dagster events and draws them on ``stream``; copies every record to ``log``."""

    def __init__(self, stream: IO[str], log: IO[str], level: int = logging.INFO, every_seconds: float = 5.0):
        super().__init__(logging.DEBUG)
        self.level_written = level
        self.stream, self.log, self.every_seconds = stream, log, every_seconds
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.steps: set[str] = set()
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.current = ""
        self._drawn = 0.0
        self._width = 0
        self.log_error: OSError | None = None
        self.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))

    def __enter__(self) -> "Progress":
        global _active
        with _lock:
            _active = self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        with _lock:
            _active = None
        self.draw(final=True)

    def write_log(self, text: str) -> None:
        """Other output of the run (dbt's lines) into the log file only."""
        if self.log_error is not None:
            return
        try:
            self.log.write(text)
        except OSError as exc:
            self.log_error = exc

    def as_stream(self) -> "LogStream":
        """A text stream into the log file (for ``redirect_stdout``) that shares its quiet failure."""
        return LogStream(self)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= self.level_written:
            self.write_log(self.format(record) + "\n")
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            return
        kind, step = event.event_type_value, event.step_key
        if kind == "ENGINE_EVENT" and event.engine_event_data is not None:
            keys = (event.engine_event_data.metadata or {}).get("step_keys")
            if keys is not None:
                # a mapped step is planned as `op[?]`; its copies are counted when they start
                self.steps.update(str(k) for k in _value(keys) if not str(k).endswith("[?]"))
        if step is None:
            return
        self.steps.add(step)
        if kind == "STEP_START":
            self.current = step
        elif kind in _DONE:
            self.done.add(step)
            if kind == "STEP_FAILURE":
                self.failed.add(step)
        else:
            return
        self.draw()

    def line(self, final: bool = False) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        running = "  done" if final else f"  {self.current}" if self.current else ""
        return f"[{len(self.done):>3}/{len(self.steps):<3}] {time.monotonic() - self.started:6.1f} s{failed}{running}"

    def draw(self, final: bool = False) -> None:
        now = time.monotonic()
        if not self.steps:
            return
        if self.tty:
            text = self.line(final)
            self.stream.write("\r" + text.ljust(self._width) + ("\n" if final else ""))
            self._width = len(text)
        elif final or now - self._drawn >= self.every_seconds:
            self.stream.write(self.line(final) + "\n")
        else:
            return
        self._drawn = now
        self.stream.flush()


class LogStream(io.TextIOBase):
    def __init__(self, progress: Progress):
        self.progress = progress

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.progress.write_log(text)
        return len(text)


def _value(metadata_value: object) -> list:
    value = getattr(metadata_value, "value", metadata_value)
    if isinstance(value, str):
        return [s.strip() for s in value.strip("[]").replace("'", "").split(",") if s.strip()]
    return list(value or [])


@dg.logger(description="The `safetywash` CLI's progress line and log file; inert unless the CLI installs it.")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("safetywash.progress", logging.DEBUG)
    with _lock:
        if _active is not None:
            logger.addHandler(_active)
    return logger


def log_file(root: Path) -> Path:
    """Where a CLI refresh writes its full log: ``<warehouse>/logs/refresh-<UTC time>.log``."""
    folder = root / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"refresh-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
