"""Where the time goes: CPU seconds per process, pyinstrument shares in-process, py-spy stacks of a worker."""

from __future__ import annotations

import bisect
import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (and its waited-for children), from /proc; NaN if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    # after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of its live descendants."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        total += sum(tree_cpu_seconds(int(c)) for c in children)
    return total


def pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def shares(fn: Callable[[], Any], markers: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Run ``fn`` under pyinstrument; wall seconds and, per marker (a function name), the seconds spent inside it.

    Nested occurrences of the same marker are counted once.
    """
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        fn()
    finally:
        session = profiler.stop()
    root = profiler.last_session.root_frame() if profiler.last_session else None
    out = dict.fromkeys(markers, 0.0)

    def walk(frame: Any, inside: frozenset[str]) -> None:
        name = frame.function or ""
        qual = f"{frame.class_name}.{name}" if getattr(frame, "class_name", None) else name
        hits = {m for m in markers if m in (name, qual)} - inside
        for m in hits:
            out[m] += frame.time
        for child in frame.children:
            walk(child, inside | hits)

    if root is not None:
        walk(root, frozenset())
    return session.duration, out


def spy_shares(raw: Path, markers: Sequence[str]) -> tuple[int, dict[str, float]]:
    """From a py-spy ``--format raw`` file (collapsed stacks): total samples and the share of samples per marker."""
    total = 0
    counts = dict.fromkeys(markers, 0)
    try:
        lines = raw.read_text(errors="replace").splitlines()
    except OSError:
        return 0, {m: float("nan") for m in markers}
    for line in lines:
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        for m in markers:
            if m in stack:
                counts[m] += int(n)
    return total, {m: (c / total if total else float("nan")) for m, c in counts.items()}


def pin(pid: int, cpus: set[int]) -> int:
    """Restrict every thread of a live process to ``cpus`` (threads it starts later inherit the mask of the thread
    that starts them); return how many threads were pinned. Linux only."""
    pinned = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(tid), cpus)
            pinned += 1
    return pinned


class CpuTrace:
    """A process's CPU seconds sampled every ``every`` seconds on a thread of its own (``perf_counter`` times), so
    that its CPU over any span of a measurement (e.g. a sustained window) can be read afterwards:
    ``with CpuTrace(pid) as trace: ...`` then ``trace.between(t0, t1)``."""

    def __init__(self, pid: int | None, every: float = 0.05) -> None:
        self.pid, self.every = pid, every
        self.times: list[float] = []
        self.cpu: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="cpu-trace", daemon=True)

    def _take(self) -> None:
        now, cpu = time.perf_counter(), cpu_seconds(self.pid) if self.pid else float("nan")
        if cpu == cpu:  # not NaN: a process that has ended keeps its last reading
            self.times.append(now)
            self.cpu.append(cpu)

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self._take()

    def __enter__(self) -> CpuTrace:
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()

    def at(self, t: float) -> float:
        """CPU seconds at ``t``, interpolated between the samples around it (the first or last outside them)."""
        if not self.times:
            return float("nan")
        i = bisect.bisect_left(self.times, t)
        if i == 0:
            return self.cpu[0]
        if i >= len(self.times):
            return self.cpu[-1]
        t0, t1, c0, c1 = self.times[i - 1], self.times[i], self.cpu[i - 1], self.cpu[i]
        return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1

    def between(self, t0: float, t1: float) -> float:
        return self.at(t1) - self.at(t0)

    def spent(self) -> float:
        """CPU seconds from the first sample to the last (the trace's whole span); NaN without samples."""
        return self.cpu[-1] - self.cpu[0] if self.cpu else float("nan")
