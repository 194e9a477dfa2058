"""Feedback on long work: one line on standard error, redrawn in place, for work that takes more than a second on a
terminal (never when standard error is a file or a pipe: nothing to clean out of logs)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TextIO

_SPIN = "|/-\\"


class Progress:
    """``with Progress(err) as p: p.phase("reading", total=n); p.advance(k)``: a phase's name, elapsed time and, with
    a total, a bar; drawn every 0.2 s once ``delay`` seconds have passed, and erased at the end."""

    def __init__(self, stream: TextIO, *, delay: float = 1.0, enabled: bool | None = None, width: int = 28) -> None:
        self._stream = stream
        self._enabled = stream.isatty() if enabled is None else enabled
        self._delay = delay
        self._width = width
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._phase = ""
        self._total: int | None = None
        self._done = 0
        self._drawn = 0  # length of the line on screen
        self._tick = 0
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self._enabled:
            self._thread = threading.Thread(target=self._run, name="lineage-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._erase()

    def phase(self, name: str, total: int | None = None) -> None:
        """Start a phase of the work (``total``: its units, for a bar)."""
        with self._lock:
            self._phase, self._total, self._done = name, total, 0

    def advance(self, done: int) -> None:
        """How many units of the phase are done so far."""
        with self._lock:
            self._done = done

    def line(self) -> str:
        """What the line says now."""
        elapsed = time.monotonic() - self._start
        if self._total:
            share = min(self._done / self._total, 1.0)
            filled = int(share * self._width)
            bar = "#" * filled + "-" * (self._width - filled)
            return f"{self._phase} [{bar}] {self._done:,}/{self._total:,} {elapsed:4.0f}s"
        return f"{self._phase} {_SPIN[self._tick % len(_SPIN)]} {elapsed:4.0f}s"

    def _run(self) -> None:
        if self._stop.wait(self._delay):
            return
        while not self._stop.is_set():
            with self._lock:
                text = self.line()
                self._tick += 1
                self._stream.write("\r" + text.ljust(self._drawn))
                self._stream.flush()
                self._drawn = len(text)
            self._stop.wait(0.2)

    def _erase(self) -> None:
        if self._drawn:
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._stream.flush()
            self._drawn = 0
