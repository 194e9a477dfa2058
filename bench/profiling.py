"""Where the time goes: CPU seconds per process, pyinstrument shares in-process, py-spy stacks of a worker."""

from __future__ import annotations

import contextlib
import os
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
