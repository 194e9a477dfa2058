"""What every benchmark shares: bench data sets, timing helpers, the results table and bench/RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from lineage.simulator import simulate

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
KEY = "62656e63682d6b65792d6e6f742d7365637265742d3031"  # pseudonym key of the bench (hex of a fixed string)


@dataclass(frozen=True)
class Dataset:
    """Simulated S Plus traffic as wire lines, with each line's subject id and whether it is a planted flow."""

    lines: list[str]
    subjects: list[str]
    event_ids: list[str]
    undeclared: list[bool]
    people: int
    days: int
    seed: int

    def describe(self) -> str:
        return f"{len(self.lines):,} events ({self.people:,} people x {self.days} days, seed {self.seed})"


def dataset(people: int, days: int, seed: int, undeclared_rate: float = 0.02) -> Dataset:
    """The simulator's stream (deterministic for its arguments), encoded once."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines, subjects, ids, flags = [], [], [], []
    for s in simulate(people, days, seed, undeclared_rate=undeclared_rate):
        lines.append(encode(s.event))
        subjects.append(s.event["subject"]["id"])
        ids.append(s.event["event_id"])
        flags.append(bool(s.undeclared))
    return Dataset(lines, subjects, ids, flags, people, days, seed)


def batches(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` in consecutive batches of ``size`` (the last one shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def writer_of(pseudonym: str, writers: int) -> int:
    """Which of ``writers`` takes a person's events (by pseudonym), as Kafka partitions split people between workers."""
    return int(pseudonym[2:10], 16) % writers


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def sustained_window(
    marks: list[tuple[float, int]], total: int, lo: float = 0.1, hi: float = 0.9
) -> tuple[float, float]:
    """The moments ``lo`` and ``hi`` of ``total`` were done, from (time, done so far) marks, interpolated."""
    a, b = lo * total, hi * total

    def when(target: float) -> float:
        prev_t, prev_n = marks[0][0], 0
        for t, n in marks:
            if n >= target:
                if n == prev_n:
                    return t
                return prev_t + (t - prev_t) * (target - prev_n) / (n - prev_n)
            prev_t, prev_n = t, n
        return marks[-1][0]

    return when(a), when(b)


def sustained_rate(marks: list[tuple[float, int]], total: int, lo: float = 0.1, hi: float = 0.9) -> float:
    """Events/s between the moments ``lo`` and ``hi`` of ``total`` were done, from (time, done so far) marks.

    Leaves out the start (connections, first query plans, consumer-group join) and the tail (a last partial batch).
    """
    if not marks or total <= 0:
        return float("nan")
    t_a, t_b = sustained_window(marks, total, lo, hi)
    return (hi - lo) * total / (t_b - t_a) if t_b > t_a else float("nan")


@contextmanager
def timer() -> Iterator[list[float]]:
    """``with timer() as t: ...`` then ``t[0]`` is the elapsed wall time in seconds."""
    out: list[float] = []
    start = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - start)


@dataclass
class Row:
    """One line of the results table: a figure, what it is compared with, and the target."""

    measurement: str
    figure: str
    reference: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Report:
    """What a bench run found: table rows, notes (how graphs were built, profiles), load averages seen."""

    command: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    loads: list[tuple[str, tuple[float, float, float]]] = field(default_factory=list)
    servers: dict[str, str] = field(default_factory=dict)  # server versions, filled in by the runs that use them
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def load(self, label: str) -> tuple[float, float, float]:
        """Record (and return) the load average now, labelled with the phase it was taken in."""
        value = os.getloadavg()
        self.loads.append((label, value))
        return value

    def note(self, text: str) -> None:
        self.notes.append(text)

    def table(self) -> str:
        header = ("measurement", "figure", "reference", "ratio", "target", "met")
        body = [
            (r.measurement, r.figure, r.reference, r.ratio, r.target, {True: "yes", False: "NO", None: ""}[r.met])
            for r in self.rows
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
        lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
        lines.append("| " + " | ".join("-" * w for w in widths) + " |")
        lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in body]
        return "\n".join(lines)

    def markdown(self) -> str:
        env = environment() | self.servers
        out = [
            f"## {self.started.strftime('%Y-%m-%d %H:%M UTC')}",
            "",
            f"`{self.command}`",
            "",
            "Machine: " + ", ".join(f"{k} {v}" for k, v in env.items()),
            "",
            "Load average (1, 5, 15 min) during the run: "
            + "; ".join(f"{label} {a:.2f} {b:.2f} {c:.2f}" for label, (a, b, c) in self.loads),
            "",
            self.table(),
            "",
        ]
        out += [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"

    def append_to(self, path: Path = RESULTS) -> None:
        if not path.exists():
            path.write_text(
                "# Benchmark results\n\nAppended by `python -m bench` (see bench/README.md); newest last.\n\n",
                encoding="utf-8",
            )
        with path.open("a", encoding="utf-8") as fh:
            fh.write("\n" + self.markdown())


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """CPU count and the versions of what is measured."""
    info = {
        "CPUs": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "kafka-python": _version("kafka-python"),
        "faust-streaming": _version("faust-streaming"),
        "aiokafka": _version("aiokafka"),
        "neo4j driver": _version("neo4j"),
        "pydantic": _version("pydantic"),
    }
    return info


def command_line() -> str:
    return " ".join(["python -m bench", *map(shlex.quote, sys.argv[1:])])
