"""Progress lines for the CLI: every step that runs longer than a second says so.

On a terminal a step shows a line redrawn in place (a bar when the step counts its work,
else the seconds so far) that ends as "label  done in 3.2 s"; in a log (stderr not a
terminal) a step prints plain lines: "allocator: label ..." once it has run a second,
"allocator: label 10/21 (12 s)" at most every 10 s, and "allocator: label done in 14.1 s".
Steps shorter than a second print nothing. ALLOCATOR_PROGRESS=off silences it all.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

__all__ = ["Progress", "Step"]

AFTER = 1.0  # seconds a step runs before it is shown
LOG_EVERY = 10.0  # seconds between a counted step's lines in a log
WIDTH = 24  # characters of a bar


class Step:
    """One running step: `update(done, total)` moves its count (any thread)."""

    def __init__(self, progress: Progress, label: str, total: int | None):
        self.progress, self.label, self.total = progress, label, total
        self.done = 0
        self.start = time.perf_counter()
        self.shown = False
        self._logged = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def _count(self) -> str:
        return f" {self.done}/{self.total}" if self.total else ""

    def _line(self) -> str:
        seconds = f"{self.elapsed():.0f} s"
        if self.total:
            filled = round(WIDTH * min(self.done, self.total) / self.total)
            return f"{self.label:<14} [{'#' * filled}{'-' * (WIDTH - filled)}]" \
                f"{self._count()}  {seconds}"
        return f"{self.label:<14} ... {seconds}"

    def _run(self) -> None:
        """The step's own thread: after AFTER seconds, draw (terminal) or log its lines."""
        if self._stop.wait(AFTER):
            return
        p = self.progress
        self.shown = True
        if p.tty:
            while True:
                p.write(f"\r{self._line()}\x1b[K")
                if self._stop.wait(0.2):
                    return
        p.write(f"allocator: {self.label} ...\n")
        self._logged = self.elapsed()
        while not self._stop.wait(1.0):
            if self.total and self.elapsed() - self._logged >= LOG_EVERY:
                p.write(f"allocator: {self.label}{self._count()} "
                        f"({self.elapsed():.0f} s)\n")
                self._logged = self.elapsed()

    def _finish(self, failed: bool) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        took = self.elapsed()
        if not (self.shown or took >= AFTER):
            return
        p = self.progress
        end = "stopped after" if failed else "done in"
        if p.tty:
            p.write(f"\r{self.label:<14} {end} {took:.1f} s\x1b[K\n")
        else:
            p.write(f"allocator: {self.label} {end} {took:.1f} s\n")


class Progress:
    """Where progress goes: stderr, as a bar on a terminal and as lines in a log."""

    def __init__(self, stream: IO[str] | None = None, tty: bool | None = None,
                 enabled: bool | None = None):
        self.stream = stream
        self._tty = tty
        self.enabled = (os.environ.get("ALLOCATOR_PROGRESS", "on").lower()
                        not in ("off", "0", "no", "false")) if enabled is None else enabled
        self._lock = threading.Lock()

    @property
    def out(self) -> IO[str]:
        return self.stream if self.stream is not None else sys.stderr

    @property
    def tty(self) -> bool:
        if self._tty is not None:
            return self._tty
        try:
            return self.out.isatty()
        except (AttributeError, ValueError):
            return False

    def write(self, text: str) -> None:
        with self._lock:
            try:
                self.out.write(text)
                self.out.flush()
            except (OSError, ValueError):  # a closed pipe is no reason to stop the work
                pass

    @contextmanager
    def step(self, label: str, total: int | None = None) -> Iterator[Step]:
        """Run a step under `label`; shown only once it has taken a second."""
        step = Step(self, label, total)
        if self.enabled:
            step._thread = threading.Thread(target=step._run, daemon=True,
                                            name=f"progress {label}")
            step._thread.start()
        failed = True
        try:
            yield step
            failed = False
        finally:
            if self.enabled:
                step._finish(failed)

    def counter(self):
        """A `progress(kind, done, total)` callback (as `run_analyses` takes) that runs each
        kind as its own step; call `.close()` on the result to end the last one."""
        return _Kinds(self)


class _Kinds:
    """Analyses report `(kind, done, total)` one kind after another: one step each."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.kind: str | None = None
        self._cm = None
        self._step: Step | None = None

    def __call__(self, kind: str, done: int, total: int) -> None:
        if kind != self.kind:
            self.close()
            self.kind = kind
            self._cm = self.progress.step(kind, total)
            self._step = self._cm.__enter__()
        self._step.update(done, total)

    def close(self, failed: bool = False) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            error = RuntimeError("stopped")
            cm.__exit__(*((RuntimeError, error, None) if failed else (None, None, None)))
